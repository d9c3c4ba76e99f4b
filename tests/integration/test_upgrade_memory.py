"""An upgraded connection leaves nothing of its HTTP handshake for the garbage collector."""

from __future__ import annotations

import gc

from tests.integration.wire import recv
from websockets.asyncio.client import connect

from tickcast.server.seam.uvicorn_http import LimitedHttpProtocol

STREAM = "trades:bench-btc-usd-spot"


def _upgraded_http_protocols() -> list[LimitedHttpProtocol]:
    """HTTP protocols still in memory whose request was a WebSocket upgrade."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, LimitedHttpProtocol)
        and (b"upgrade", b"websocket") in getattr(obj, "headers", [])
    ]


async def test_upgraded_http_protocol_is_freed_without_the_collector(start_server) -> None:
    """The httptools parser holds its protocol's callbacks: once the connection is upgraded the
    protocol drops the parser, so it is freed at once, not hundreds of handshakes later by the
    collector (docs/performance.md, idle memory). The collector is off while we look."""
    server = await start_server(sources="bench:rate=1")
    key = await server.key("pro", user="mem")
    gc.collect()
    gc.disable()
    try:
        clients = [await connect(f"{server.ws}?api_key={key}&streams={STREAM}") for _ in range(4)]
        try:
            for ws in clients:
                assert (await recv(ws))["type"] == "Subscribed"
            assert _upgraded_http_protocols() == []
        finally:
            for ws in clients:
                await ws.close()
    finally:
        gc.enable()
