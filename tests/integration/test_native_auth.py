"""Handshake on /api/v1/ws: every key form, refusals before the upgrade, plan limits."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.integration.wire import recv
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

STREAM = "trades:binance-btc-usdt-spot"


@pytest.mark.parametrize("form", ["header", "bearer", "cookie", "bare-cookie", "query"])
async def test_native_auth_accepts_every_key_form(start_server, form: str) -> None:
    """X-API-Key, Bearer, cookie id=, bare cookie and ?api_key= all authenticate."""
    server = await start_server()
    key = await server.key("pro")
    headers = {
        "header": {"X-API-Key": key},
        "bearer": {"Authorization": f"Bearer {key}"},
        "cookie": {"Cookie": f"id={key}"},
        "bare-cookie": {"Cookie": key},
        "query": {},
    }[form]
    url = f"{server.ws}?streams={STREAM}" + (f"&api_key={key}" if form == "query" else "")
    async with connect(url, additional_headers=headers) as ws:
        assert (await recv(ws))["type"] == "Subscribed"


@pytest.mark.parametrize("key", [None, "tc_live_wrong", "x" * 500])
async def test_native_auth_refuses_bad_keys_with_http_400(start_server, key: str | None) -> None:
    """A missing or wrong key fails the handshake with 400 and the documented JSON body."""
    server = await start_server()
    headers = {"X-API-Key": key} if key else {}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws, additional_headers=headers):
            pass
    response = refused.value.response
    assert response.status_code == 400
    assert json.loads(response.body) == {"status_code": 1005, "message": "Unauthenticated"}


async def test_native_auth_refuses_revoked_key(start_server) -> None:
    """A revoked key is refused like an unknown one."""
    server = await start_server()
    key = await server.key("pro")
    record = (await server.node.store.list_keys("user-pro"))[0]
    assert await server.node.store.revoke_key(record.key_id)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws, additional_headers={"X-API-Key": key}):
            pass
    assert refused.value.response.status_code == 400


async def test_native_connection_limit_is_per_user(start_server) -> None:
    """The free plan allows 2 concurrent connections per user, across all its keys."""
    server = await start_server()
    first = await server.key("free", user="alice")
    second = await server.key("free", user="alice")
    async with (
        connect(server.ws, additional_headers={"X-API-Key": first}),
        connect(server.ws, additional_headers={"X-API-Key": second}),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws, additional_headers={"X-API-Key": first}):
                pass
        body = json.loads(refused.value.response.body)
        assert body == {"status_code": 1007, "message": "Connection limit exceeded"}
    async with connect(server.ws, additional_headers={"X-API-Key": first}) as ws:
        await ws.send(json.dumps({"type": "Ping", "id": 1}))
        assert await recv(ws) == {"type": "Pong", "id": 1}


async def test_native_entitlements_follow_the_plan(start_server) -> None:
    """Free keys get trades of binance spot markets but not books or other venues."""
    server = await start_server()
    key = await server.key("free")
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 1, "streams": [STREAM]}))
        assert (await recv(ws))["type"] == "Subscribed"
        for stream in ("book:binance-btc-usdt-spot", "trades:coinbase-btc-usd-spot"):
            await ws.send(json.dumps({"type": "Subscribe", "id": 2, "streams": [stream]}))
            error = await recv_error(ws)
            assert error["code"] == "not_entitled" and error["id"] == 2


async def recv_error(ws) -> dict[str, object]:
    while True:
        message = await recv(ws)
        if message["type"] == "Error":
            return message


async def test_native_plain_get_is_refused_with_400(start_server) -> None:
    """A GET without the upgrade headers answers 400 with the JSON error body."""
    server = await start_server()
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.http}/api/v1/ws")
    assert response.status_code == 400
    assert response.json()["status_code"] == 1003


async def test_native_test_keys_see_simulated_markets_only(start_server) -> None:
    """A tc_test_ key may stream simulated markets but not operator-published ones."""
    from tests.integration.wire import MARKET, publish, trade

    server = await start_server()
    assert (await publish(server.http, server.admin_key, [trade(1)])).is_success
    test_key = await server.key("pro", user="tester", prefix="tc_test_")
    live_key = await server.key("pro", user="tester")
    streams = [f"trades:{MARKET}"]
    async with connect(server.ws, additional_headers={"X-API-Key": test_key}) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 1, "streams": streams}))
        assert (await recv(ws))["code"] == "unknown_stream"
        await ws.send(json.dumps({"type": "Subscribe", "id": 2, "streams": [STREAM]}))
        assert (await recv(ws))["type"] == "Subscribed"
    async with connect(server.ws, additional_headers={"X-API-Key": live_key}) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 3, "streams": streams}))
        assert (await recv(ws))["type"] == "Subscribed"
