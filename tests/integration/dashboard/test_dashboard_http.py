"""The dashboard's HTTP surface: packaged assets, session cookies, CSRF, admin vs own data."""

from __future__ import annotations

import asyncio
import re

import httpx
from tests.integration.wire import recv_until
from websockets.asyncio.client import connect

from tickcast.dashboard.routes import STATIC


async def _signed_in(http: httpx.AsyncClient, key: str) -> str:
    """Sign in; returns the CSRF token."""
    response = await http.post("/dashboard/api/session", json={"key": key})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf"]
    return csrf


async def test_page_and_every_asset_are_served_offline(start_server) -> None:
    """/dashboard and every module it imports come from the package; no other origin is named."""
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/dashboard")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in sorted(STATIC.rglob("*.*")):
            relative = asset.relative_to(STATIC).as_posix()
            served = await http.get(f"/dashboard/static/{relative}")
            assert served.status_code == 200, relative
            if asset.suffix in (".js", ".html", ".css") and "vendor" not in relative:
                assert not re.search(r"https?://", served.text), relative
        assert (STATIC / "vendor" / "uPlot.LICENSE").read_text().startswith("The MIT License")


async def test_session_cookie_is_httponly_strict_and_sign_out_ends_it(start_server) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/dashboard/api/session", json={"key": server.admin_key})
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("tc_dash="))
        assert (
            "HttpOnly" in session and "SameSite=strict" in session and "Path=/dashboard" in session
        )
        key_cookie = next(c for c in cookies if c.startswith("id="))
        assert "HttpOnly" in key_cookie and "Path=/api/v1/ws" in key_cookie
        assert server.admin_key not in response.text
        csrf = response.json()["csrf"]
        assert (await http.get("/dashboard/api/session")).json()["admin"] is True
        assert (await http.delete("/dashboard/api/session")).status_code == 403  # no CSRF
        headers = {"X-CSRF-Token": csrf}
        signed_out = await http.delete("/dashboard/api/session", headers=headers)
        assert signed_out.status_code == 204
        cleared = signed_out.headers.get_list("set-cookie")
        assert any(
            c.startswith("id=") and "Max-Age=0" in c and "Path=/api/v1/ws" in c for c in cleared
        )
        assert any(c.startswith("tc_dash=") and "Max-Age=0" in c for c in cleared)
        assert (await http.get("/dashboard/api/overview")).status_code == 401


async def test_bad_key_cross_origin_and_missing_csrf_are_refused(start_server) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http) as http:
        bad = await http.post("/dashboard/api/session", json={"key": "tc_live_nope"})
        assert bad.status_code == 401
        evil = {"Origin": "http://evil.example"}
        cross = await http.post(
            "/dashboard/api/session", json={"key": server.admin_key}, headers=evil
        )
        assert cross.status_code == 403
        csrf = await _signed_in(http, server.admin_key)
        body = {"user": "mallory", "plan": "pro"}
        assert (await http.post("/dashboard/api/keys", json=body)).status_code == 403
        forged = await http.post(
            "/dashboard/api/keys", json=body, headers=evil | {"X-CSRF-Token": csrf}
        )
        assert forged.status_code == 403
        made = await http.post("/dashboard/api/keys", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201 and made.json()["key"].startswith("tc_live_")


async def test_revoked_key_ends_its_session(start_server) -> None:
    server = await start_server()
    pro = await server.key("pro", user="erin")
    async with httpx.AsyncClient(base_url=server.http) as http:
        await _signed_in(http, pro)
        assert (await http.get("/dashboard/api/keys")).status_code == 200
        (record,) = await server.node.store.list_keys("erin")
        await server.node.store.revoke_key(record.key_id)
        assert (await http.get("/dashboard/api/keys")).status_code == 401


async def test_non_admin_sees_own_data_only_and_cannot_act_as_admin(start_server) -> None:
    """A pro key lists only its user's keys and connections; admin routes answer 403."""
    server = await start_server()
    pro = await server.key("pro", user="frank")
    other = await server.key("pro", user="grace")
    stream = "trades:binance-btc-usdt-spot"
    async with (
        connect(f"{server.ws}?api_key={pro}&streams={stream}") as mine,
        connect(f"{server.ws}?api_key={other}&streams={stream}") as theirs,
        httpx.AsyncClient(base_url=server.http) as http,
    ):
        for ws in (mine, theirs):
            await recv_until(ws, lambda m: m["type"] == "Subscribed")
        csrf = await _signed_in(http, pro)
        connections = (await http.get("/dashboard/api/connections")).json()
        assert [c["user"] for c in connections] == ["frank"]
        keys = (await http.get("/dashboard/api/keys")).json()
        assert {k["user"] for k in keys["keys"]} == {"frank"} and keys["users"] == []
        headers = {"X-CSRF-Token": csrf}
        for method, path, body in [
            ("POST", "/dashboard/api/keys", {"user": "frank"}),
            ("PUT", "/dashboard/api/users/grace/plan", {"plan": "free"}),
            ("DELETE", f"/dashboard/api/keys/{keys['keys'][0]['key_id']}", None),
        ]:
            refused = await http.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, path
        theirs_id = next(
            c.id for c in server.node.connections.values() if c.principal.user == "grace"
        )
        closing = await http.delete(f"/dashboard/api/connections/{theirs_id}", headers=headers)
        assert closing.status_code == 404 and theirs_id in server.node.connections
        async with asyncio.timeout(5):  # until two samples (1 s apart) give one rate point
            while not (overview := (await http.get("/dashboard/api/overview")).json())["series"][
                "t"
            ]:
                await asyncio.sleep(0.2)
        assert overview["dialects"] == {} and overview["series"]["events"][0] is not None
        assert set(overview["series"]["connections"]) == {None}
        assert set(overview["series"]["messages"]) == {None}
