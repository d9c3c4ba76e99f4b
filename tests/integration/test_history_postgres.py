"""A server on PostgreSQL keeps its history there (issue 17): written by the node that
sequences, read back by the Coin Metrics REST API and by native time travel."""

from __future__ import annotations

import json
import time

import httpx
from tests.integration.wire import recv, recv_until
from websockets.asyncio.client import connect

from tickcast.history.postgres import PostgresHistory
from tickcast.model import Market, Position, Side, Trade
from tickcast.model.markets import MarketKind
from tickcast.model.timefmt import rfc3339_ns

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 4)
TRADES = f"trades:{MARKET.id}"
DAY_NS = 86_400_000_000_000


async def test_history_in_postgresql_serves_rest_and_time_travel(
    start_server, postgres_url: str
) -> None:
    server = await start_server(sources="none", store=postgres_url, history_size=20)
    node = server.node
    assert node.history is not None and isinstance(node.history.reader, PostgresHistory)
    node.catalog.add(MARKET)
    start = (time.time_ns() // DAY_NS - 1) * DAY_NS
    trades = [
        Trade(MARKET.id, f"p{i}", 10_000 + i, 1, Side.SELL, start + i * 1_000) for i in range(250)
    ]
    for at in range(0, 250, 50):
        await node.publish(trades[at : at + 50])
    params = {"api_key": server.admin_key, "markets": MARKET.id, "page_size": "100",
              "paging_from": "start", "start_time": rfc3339_ns(start)}  # fmt: skip
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=server.http) as http:
        while True:
            page = (await http.get("/v4/timeseries/market-trades", params=params)).json()
            ids += [row["coin_metrics_id"] for row in page["data"]]
            if "next_page_token" not in page:
                break
            params["next_page_token"] = page["next_page_token"]
    assert ids == [t.id for t in trades]
    request = {"type": "Subscribe", "id": 1, "streams": [TRADES],
               "from": {TRADES: {"time": rfc3339_ns(start + 100_000)}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["streams"][0]["seq"] == 100
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 250)
    assert [m["seq"] for m in [*seen, last]] == list(range(101, 251))


async def test_keyed_state_time_travel_on_postgresql(start_server, postgres_url: str) -> None:
    """Positions from T on a PostgreSQL history: the Snapshot holds each party's last position
    at or before T (keyed checkpoints and rows read from PostgreSQL), then the updates."""
    server = await start_server(sources="none", store=postgres_url, history_size=20)
    node = server.node
    node.catalog.add(MARKET)
    start = (time.time_ns() // DAY_NS - 1) * DAY_NS
    parties = ("ann", "bob", "cyd")
    positions = [
        Position(MARKET.id, parties[i % 3], i, 100, 0, 0, 101, start + i * 1_000)
        for i in range(120)
    ]
    for at in range(0, 120, 40):
        await node.publish(positions[at : at + 40])
    stream = f"positions:{MARKET.id}"
    request = {"type": "Subscribe", "id": 1, "streams": [stream],
               "from": {stream: {"time": rfc3339_ns(start + 50_500)}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 120)
    snapshot, *updates = [*seen, last]
    assert (snapshot["type"], snapshot["seq"]) == ("Snapshot", 51)
    volumes = {p["party"]: p["open_volume"] for p in snapshot["data"]["positions"]}
    assert set(volumes) == set(parties) and len(set(volumes.values())) == 3  # 48, 49, 50
    assert [m["seq"] for m in updates] == list(range(52, 121))
