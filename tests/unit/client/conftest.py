"""A scripted fake of the native ``/api/v1/ws`` server (a test double of the wire protocol).

Each accepted connection runs the next script of ``FakeServer.scripts`` with a ``FakeConnection``;
when the scripts run out the connection just stays open. Every client message is checked with the
server's own parser (``tickcast.dialects.native.wire.protocol.parse_command``) and recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tickcast.book import checksum_of_strings
from tickcast.dialects.native.wire import protocol as native
from tickcast.model import StreamPosition

GOOD_KEY = "good-key"
EPOCH = "e1"
TRADES = "trades:binance-btc-usdt-spot"
BOOK = "book:binance-btc-usdt-spot"

Script = Callable[["FakeConnection"], Awaitable[None]]


def book_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """Checksum of a full book given as wire levels (best first)."""
    return checksum_of_strings([(p, s) for p, s in bids], [(p, s) for p, s in asks])


class FakeConnection:
    def __init__(self, server: FakeServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next client message, which must be of type ``kind`` and valid for the server."""
        while True:
            async with asyncio.timeout(5):
                text = await self.ws.recv()
            native.parse_command(text)
            message: dict[str, Any] = json.loads(text)
            self.server.received.append(message)
            if message["type"] == "Ping" and kind != "Ping":
                await self.ws.send(native.pong_frame(message["id"]).decode())
                continue
            assert message["type"] == kind, message
            return message

    async def send(self, message: dict[str, Any] | bytes) -> None:
        text = message.decode() if isinstance(message, bytes) else json.dumps(message)
        await self.ws.send(text)

    async def subscribed(self, request: dict[str, Any], seqs: dict[str, int]) -> None:
        positions = [(s, StreamPosition(seqs.get(s, 0), EPOCH)) for s in request["streams"]]
        await self.send(native.subscribed_frame(request["id"], positions))

    async def update(self, stream: str, seq: int, data: dict[str, Any], **extra: Any) -> None:
        await self.send({"type": "Update", "stream": stream, "seq": seq, "data": data, **extra})

    async def snapshot(
        self, stream: str, seq: int, bids: list[list[str]], asks: list[list[str]], **extra: Any
    ) -> None:
        await self.send(
            {
                "type": "Snapshot",
                "stream": stream,
                "epoch": EPOCH,
                "seq": seq,
                "data": {"bids": bids, "asks": asks},
                "checksum": book_checksum(bids, asks),
                **extra,
            }
        )

    def drop(self) -> None:
        """Drop the TCP connection without a close frame."""
        assert self.ws.transport is not None
        self.ws.transport.abort()


class FakeServer:
    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.received: list[dict[str, Any]] = []
        self.headers: list[Headers] = []
        self.rejection: tuple[int, str] | None = None
        self.errors: list[BaseException] = []
        self.key = GOOD_KEY
        self.url = ""

    def subscribes(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == "Subscribe"]

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers.append(request.headers)
        if request.headers.get("X-API-Key") != GOOD_KEY:
            body = json.dumps({"status_code": 1005, "message": "Unauthenticated"})
            return connection.respond(HTTPStatus.BAD_REQUEST, body)
        if self.rejection is not None:
            status_code, message = self.rejection
            body = json.dumps({"status_code": status_code, "message": message})
            return connection.respond(HTTPStatus.BAD_REQUEST, body)
        if request.path != "/api/v1/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, '{"status_code":1001}')
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        if self.scripts:
            try:
                await self.scripts.pop(0)(FakeConnection(self, ws))
            except Exception as error:  # reported by the fixture
                self.errors.append(error)
                raise
        await ws.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    async with serve(fake._handle, "127.0.0.1", 0, process_request=fake._process_request) as srv:
        port = srv.sockets[0].getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}"
        yield fake
    if fake.errors:
        raise fake.errors[0]
