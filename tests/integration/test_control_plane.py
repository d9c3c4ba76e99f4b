"""Control plane over real HTTP: health, OpenAPI, catalogue, keys, connections, usage, publish."""

from __future__ import annotations

import json

import httpx
from tests.integration.wire import MARKET, publish, recv, recv_until, trade
from websockets.asyncio.client import connect


async def test_control_health_metrics_and_openapi(start_server) -> None:
    """/healthz is 200 when ready; /openapi.json documents /api/v1/ws with 101/400/500."""
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        document = (await http.get("/openapi.json")).json()
        responses = document["paths"]["/api/v1/ws"]["get"]["responses"]
        assert {"101", "400", "500"} <= set(responses)
        docs = await http.get("/docs")
        assert docs.status_code == 200 and "//cdn" not in docs.text
        assets = [part.split('"')[0] for part in docs.text.split('src="')[1:]]
        assert assets
        for asset in assets:
            assert (await http.get(asset)).status_code == 200, asset
        metrics = (await http.get("/metrics")).text
        assert "tickcast_events_published_total" in metrics
        markets = (await http.get("/api/v1/markets")).json()
        ids = {m["id"] for m in markets}
        assert {
            "binance-btc-usdt-spot",
            "coinbase-btc-usd-spot",
            "kraken-eth-usd-spot",
            "binance-BTCUSDT-future",
        } <= ids
        btc = next(m for m in markets if m["id"] == "binance-btc-usdt-spot")
        assert btc["tick"] == "0.01"


async def test_control_admin_endpoints_need_an_admin_key(start_server) -> None:
    """Admin routes answer 401 without a key and 403 for a non-admin key."""
    server = await start_server()
    pro = await server.key("pro")
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/api/v1/keys")).status_code == 401
        refused = await http.get("/api/v1/keys", headers={"X-API-Key": pro})
        assert refused.status_code == 403
        assert refused.json() == {"status_code": 1007, "message": "You are missing privileges"}


async def test_control_keys_connections_and_usage(start_server) -> None:
    """An admin creates a user and key, sees the key's connection, closes it, reads usage."""
    server = await start_server()
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:
        assert (
            await http.post("/api/v1/users", json={"name": "bob", "plan": "pro"})
        ).status_code == 201
        created = (await http.post("/api/v1/keys", json={"user": "bob"})).json()
        key, key_id = created["key"], created["key_id"]
        listed = (await http.get("/api/v1/keys", params={"user": "bob"})).json()
        assert [k["key_id"] for k in listed] == [key_id]
        assert key not in json.dumps(listed)
        stream = "trades:binance-btc-usdt-spot"
        async with connect(
            f"{server.ws}?streams={stream}", additional_headers={"X-API-Key": key}
        ) as ws:
            await recv_until(ws, lambda m: m["type"] == "Update", timeout=15)
            connections = (await http.get("/api/v1/connections")).json()
            mine = [c for c in connections if c["key_id"] == key_id]
            assert len(mine) == 1 and mine[0]["subscriptions"] == [stream]
            closed = await http.delete(f"/api/v1/connections/{mine[0]['id']}")
            assert closed.status_code == 204
            closing, _ = await recv_until(ws, lambda m: m["type"] == "Closing")
            assert closing["reason"] == "closed by operator"
        usage = (await http.get("/api/v1/usage", params={"key_id": key_id})).json()
        assert usage[0]["connections"] == 1 and usage[0]["messages"] >= 2
        assert (await http.delete(f"/api/v1/keys/{key_id}")).status_code == 204


async def test_publish_api_feeds_subscribers(start_server) -> None:
    """Events POSTed by a publisher reach native subscribers like simulated ones."""
    server = await start_server(sources="none")
    key = await server.key("pro")
    await publish(server.http, server.admin_key, [trade(1)])
    async with connect(
        f"{server.ws}?streams=trades:{MARKET}", additional_headers={"X-API-Key": key}
    ) as ws:
        assert (await recv(ws))["type"] == "Subscribed"
        response = await publish(server.http, server.admin_key, [trade(2, price="101.5")])
        assert response.json()["streams"] == [
            {
                "stream": f"trades:{MARKET}",
                "epoch": response.json()["streams"][0]["epoch"],
                "seq": 2,
            }
        ]
        update = await recv(ws)
        assert update["data"] == {
            "id": "t2",
            "price": "101.50",
            "size": "1.000",
            "side": "sell",
            "time": "2026-01-01T00:00:00.000000002Z",
        }


async def test_publish_api_refusals(start_server) -> None:
    """Non-publishers get 403; malformed batches get 400 naming the bad field."""
    server = await start_server(sources="none")
    pro = await server.key("pro")
    assert (await publish(server.http, pro, [trade(1)])).status_code == 403
    bad = await publish(server.http, server.admin_key, [trade(1, price="1.234")])
    assert bad.status_code == 400
    assert "events[0]" in bad.json()["message"] and "price" in bad.json()["message"]
    async with httpx.AsyncClient(base_url=server.http) as http:
        unknown = await http.post(
            "/api/v1/publish",
            headers={"X-API-Key": server.admin_key},
            json={"events": [{"type": "trade", "market": "x-y-z-spot"}]},
        )
        assert unknown.status_code == 400


async def test_control_errors_use_the_api_error_shape(start_server) -> None:
    """Unknown paths answer 404 and malformed bodies 400, both as {status_code, message}."""
    server = await start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        missing = await http.get("/nope")
        assert missing.status_code == 404
        assert missing.json() == {"status_code": 1001, "message": "Not found"}
        bad = await http.post("/api/v1/publish", json={}, headers={"X-API-Key": server.admin_key})
        assert bad.status_code == 400 and bad.json()["status_code"] == 1003
        assert "events" in bad.json()["message"]


async def test_control_openapi_has_no_422(start_server) -> None:
    """The document promises what the server does: 400 ApiError, never FastAPI's 422."""
    server = await start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        document = (await http.get("/openapi.json")).json()
    responses = [op["responses"] for ops in document["paths"].values() for op in ops.values()]
    assert not any("422" in r for r in responses)
    publish = document["paths"]["/api/v1/publish"]["post"]["responses"]
    assert "400" in publish and "ApiError" in str(publish["400"])
