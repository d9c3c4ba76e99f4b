"""Vega streams over chunked HTTP (httpx) and WebSocket: filters, errors, limits, keys, REST."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from tests.conftest import RunningServer, ServerFactory
from websockets.exceptions import ConnectionClosedError

from tickcast.dialects.vega.wire.ids import market_hex
from tickcast.sources.parties import party_id

BLOCK = 0.1
BTC = market_hex("binance-btc-usdt-spot")
ETH = market_hex("binance-eth-usdt-spot")
KRAKEN_BTC = market_hex("kraken-btc-usd-spot")


def _ws(server: RunningServer, path: str) -> str:
    return f"ws://{server.host}:{server.port}/api/v2/stream/{path}"


async def _lines(
    client: httpx.AsyncClient, url: str, count: int, timeout: float = 10.0
) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    async with client.stream("GET", url, timeout=timeout) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            out.append(json.loads(line))
            if len(out) == count:
                return reply.headers, out
    raise AssertionError(f"stream ended after {len(out)} lines")


async def _refusal(url: str) -> dict[str, Any]:
    """The one frame of a refused stream; the connection then drops without a close frame."""
    async with websockets.connect(url) as ws:
        message: dict[str, Any] = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
        assert closed.value.rcvd is None  # no close frame: TCP dropped, as the data-node does
    return message


async def test_chunked_http_streams_one_markets_trades_and_depth_updates(
    start_server: ServerFactory,
) -> None:
    server = await start_server(vega_block_time=BLOCK)
    base = f"{server.http}/api/v2/stream"
    async with httpx.AsyncClient() as client:
        query = f"marketIds={BTC}&market_ids={ETH}"  # repeated keys, JSON and proto names
        headers, messages = await _lines(client, f"{base}/trades?{query}", 2)
        assert headers["transfer-encoding"] == "chunked"
        for message in messages:
            trades = message["result"]["trades"]
            assert 1 <= len(trades) <= 50
            assert {trade["marketId"] for trade in trades} <= {BTC, ETH}
        latest = (await client.get(f"{server.http}/api/v2/market/depth/{BTC}/latest")).json()
        assert latest["marketId"] == BTC and latest["buy"] and latest["sell"]
        assert int(latest["buy"][0]["numberOfOrders"]) >= 1  # int64 as a string
        _, updates = await _lines(client, f"{base}/markets/depth/updates?marketIds={BTC}", 4)
    chain = [item for message in updates for item in message["result"]["update"]]
    assert int(chain[0]["previousSequenceNumber"]) >= int(latest["sequenceNumber"])
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["previousSequenceNumber"] == before["sequenceNumber"]
        assert int(after["sequenceNumber"]) > int(before["sequenceNumber"])


async def test_accounts_snapshot_pages_over_http(start_server: ServerFactory) -> None:
    server = await start_server(vega_block_time=BLOCK)
    url = f"{server.http}/api/v2/stream/accounts"
    async with httpx.AsyncClient() as client:
        for _ in range(100):  # until enough parties hold margin accounts for several pages
            pages: list[dict[str, Any]] = []
            async with client.stream("GET", url, timeout=10) as reply:
                async for line in reply.aiter_lines():
                    pages.append(json.loads(line)["result"]["snapshot"])
                    if "lastPage" in pages[-1]:
                        break
            if len(pages) >= 2:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the accounts snapshot never spanned two pages")
    assert [len(page["accounts"]) for page in pages[:-1]] == [50] * (len(pages) - 1)
    assert [page.get("lastPage") for page in pages] == [None] * (len(pages) - 1) + [True]
    types = {account["type"] for page in pages for account in page["accounts"]}
    assert types == {3, 4}  # MARGIN and GENERAL, as integers on streams


async def test_errors_are_one_frame_then_a_dropped_connection(
    start_server: ServerFactory,
) -> None:
    server = await start_server(vega_block_time=BLOCK)
    assert await _refusal(_ws(server, "bogus")) == {"code": 5, "message": "Not Found"}
    malformed = await _refusal(_ws(server, "accounts?type=FOO"))
    assert malformed == {"code": 3, "message": 'parsing field "type": "FOO" is not a valid value'}
    invalid = (await _refusal(_ws(server, "orders?partyIds=faf83c")))["error"]
    assert invalid["code"] == 3 and invalid["message"] == "InvalidArgument error"
    assert invalid["details"][0]["message"] == "invalid party id"
    unknown = (await _refusal(_ws(server, f"trades?marketIds={'0' * 64}")))["error"]
    assert unknown["code"] == 5 and unknown["message"] == "NotFound error"
    assert (await _refusal(_ws(server, "candle/data")))["error"]["code"] == 3
    async with httpx.AsyncClient() as client:
        bad = await client.get(f"{server.http}/api/v2/stream/orders?excludeLiquidity=maybe")
        assert bad.status_code == 400 and bad.json()["code"] == 3
        missing = await client.get(f"{server.http}/api/v2/stream/bogus")
        assert missing.status_code == 404 and missing.json() == {"code": 5, "message": "Not Found"}
    # the server is fine: a good stream still works
    async with websockets.connect(_ws(server, f"trades?marketIds={BTC}")) as ws:
        assert json.loads(await ws.recv())["result"]["trades"]


async def test_streams_per_client_address_are_limited(start_server: ServerFactory) -> None:
    server = await start_server(vega_block_time=BLOCK, vega_max_streams_per_address=2)
    url = _ws(server, "markets/data")
    async with websockets.connect(url) as first, websockets.connect(url) as second:
        assert json.loads(await first.recv())["result"]["marketData"]
        assert json.loads(await second.recv())["result"]["marketData"]
        refused = await _refusal(url)
        assert refused == {
            "error": {"code": 8, "message": "client reached max subscription allowed"}
        }
    async with websockets.connect(url) as again:  # the slots were given back
        assert json.loads(await again.recv())["result"]["marketData"]


async def test_keys_and_plans_when_required(start_server: ServerFactory) -> None:
    server = await start_server(vega_block_time=BLOCK, vega_require_key=True)
    unauthenticated = (await _refusal(_ws(server, "trades")))["error"]
    assert unauthenticated == {"code": 16, "message": "Unauthenticated error"}
    free = await server.key("free")
    denied = (await _refusal(_ws(server, f"orders?api_key={free}")))["error"]
    assert denied["code"] == 7
    other_venue = await _refusal(_ws(server, f"trades?marketIds={KRAKEN_BTC}&api_key={free}"))
    assert other_venue["error"]["code"] == 7
    pro = await server.key("pro")
    headers = {"X-API-Key": pro}
    async with websockets.connect(_ws(server, "trades"), additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["result"]["trades"]
    bearer = ["Bearer", pro]  # wsproxy's Sec-WebSocket-Protocol: Bearer, <token>
    orders = _ws(server, f"orders?partyIds={party_id(10)}")
    async with websockets.connect(orders, subprotocols=bearer) as ws:
        assert json.loads(await ws.recv())["result"]["snapshot"]
    async with websockets.connect(_ws(server, f"trades?api_key={free}")) as ws:
        trades = json.loads(await ws.recv())["result"]["trades"]
    binance = {market_hex(m.id) for m in server.node.catalog if m.id.startswith("binance-")}
    assert {trade["marketId"] for trade in trades} <= binance


async def test_rest_companions_and_a_candle_stream(start_server: ServerFactory) -> None:
    server = await start_server(vega_block_time=BLOCK)
    async with httpx.AsyncClient(base_url=server.http) as client:
        markets = (await client.get("/api/v2/markets")).json()["markets"]["edges"]
        parties = (await client.get("/api/v2/parties")).json()["parties"]["edges"]
        intervals = await client.get("/api/v2/candle/intervals", params={"marketId": BTC})
        unknown = await client.get("/api/v2/candle/intervals", params={"marketId": "0" * 64})
    assert len(markets) == len(server.node.catalog)
    btc = next(edge["node"] for edge in markets if edge["node"]["id"] == BTC)
    assert btc["state"] == "STATE_ACTIVE" and btc["decimalPlaces"] == "2"
    assert btc["positionDecimalPlaces"] == "5"
    assert btc["tradableInstrument"]["instrument"]["name"] == "binance-btc-usdt-spot"
    assert {edge["node"]["id"] for edge in parties} >= {party_id(n) for n in range(14)}
    assert unknown.status_code == 404
    mapping = intervals.json()["intervalToCandleId"]
    assert mapping[0] == {"interval": "1 minute", "candleId": f"trades_candle_1_minute_{BTC}"}
    async with websockets.connect(
        _ws(server, f"candle/data?candleId={mapping[0]['candleId']}")
    ) as ws:
        candle = json.loads(await ws.recv())["result"]["candle"]
    assert int(candle["low"]) <= int(candle["close"]) <= int(candle["high"])
    assert int(candle["start"]) % 60_000_000_000 == 0
