"""Documented behaviour is the real behaviour for hostile input (issue 15, point 7): long stream
URLs, repeated Vega filters, broken Socket.IO packets, each malformed input one WARNING line."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from tests.integration.wire import raw_websocket, read_frame
from websockets.asyncio.client import connect

CM = "/v4/timeseries-stream/market-trades"


async def _recv(ws: Any) -> str:
    return str(await asyncio.wait_for(ws.recv(), 5))


VEGA_MARKET = "b7cc58af6f0388a7104c46de96d4295858803672e3b00e645dcf630dcd366cfe"


async def _first_frame(server: Any, path: str) -> tuple[bytes, bytes]:
    """The handshake answer's status line and the first frame (b"" if refused)."""
    reader, writer, head = await raw_websocket(server.host, server.port, path)
    try:
        if not head.startswith(b"HTTP/1.1 101"):
            return head.split(b"\r\n")[0], b""
        _, payload = await asyncio.wait_for(read_frame(reader), 10)
        return head.split(b"\r\n")[0], payload
    finally:
        writer.close()


async def test_long_stream_urls_get_the_documented_answers(start_server: Any) -> None:
    server = await start_server(sources="simulator:rate=5")
    key = server.admin_key
    status, frame = await _first_frame(server, f"{CM}?api_key={key}&markets=" + "a" * 12_000)
    assert status == b"HTTP/1.1 101 Switching Protocols"
    assert json.loads(frame)["error"]["type"] == "uri_too_long"
    native = "/api/v1/ws?api_key=" + key + "&streams=" + ",".join(["trades:nope"] * 1200)
    status, frame = await _first_frame(server, native)
    assert status == b"HTTP/1.1 101 Switching Protocols"  # answered in-band
    assert json.loads(frame)["type"] in ("Error", "InvalidMessage")
    status, _ = await _first_frame(server, f"{CM}?api_key={key}&markets=" + "a" * 20_000)
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


@pytest.mark.parametrize(
    "query",
    [
        "orders?excludeLiquidity=true&excludeLiquidity=true",
        "accounts?type=1&type=1",
        f"accounts?asset={VEGA_MARKET}&asset={VEGA_MARKET}",
        "candle/data?candleId=c&candle_id=c",
    ],
)
async def test_vega_singular_filter_repeated_with_the_same_value(
    start_server: Any, query: str
) -> None:
    server = await start_server(sources="simulator:rate=5")
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.get(f"/api/v2/stream/{query}")
    assert answer.status_code == 400 and "too many values for field" in answer.json()["message"]
    _, frame = await _first_frame(server, f"/api/v2/stream/{query}")
    assert json.loads(frame)["code"] == 3 and "too many values" in json.loads(frame)["message"]


async def test_vega_repeated_list_filter_adds_values(start_server: Any) -> None:
    """``marketIds`` (and its legacy alias ``marketId``) is a list: repeating a value is no
    error (docs/dialects/vega.md, Filters)."""
    server = await start_server(sources="simulator:rate=5")
    for key in ("marketIds", "marketId"):
        path = f"/api/v2/stream/trades?{key}={VEGA_MARKET}&{key}={VEGA_MARKET}"
        reader, writer, head = await raw_websocket(server.host, server.port, path)
        writer.close()
        assert head.startswith(b"HTTP/1.1 101"), head


async def test_socketio_broken_packets(start_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A CONNECT with broken JSON is refused like one without a key; another broken packet is
    dropped; each is one WARNING line without a traceback, and the connection still works."""
    server = await start_server(sources="none")
    key = await server.key("pro", user="u")
    url = f"ws://{server.host}:{server.port}/socket.io/?EIO=4&transport=websocket"
    with caplog.at_level(logging.WARNING):
        async with connect(url) as ws:
            assert (await _recv(ws))[0] == "0"
            await ws.send('40/api-ws,{"apiKey":')
            assert await _recv(ws) == '44/api-ws,{"message":"Authentication failed"}'
        async with connect(url) as ws:
            assert (await _recv(ws))[0] == "0"
            await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
            assert (await _recv(ws)).startswith('40/api-ws,{"sid":"')
            assert (await _recv(ws)).startswith('42/api-ws,["initial-prices",')
            await ws.send('42/api-ws,["subscribe",{"symbols":')
            await ws.send('42/api-ws,7["subscribe",{"symbols":["btc"]}]')
            assert await _recv(ws) == '43/api-ws,7[{"ok":true,"symbols":["BTC"],"unknown":[]}]'
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in records] == ["WARNING", "WARNING"], records
    assert not any(r.exc_info for r in records)
