"""A local fake venue for connector tests: WebSocket + HTTP on one random loopback port.

Venue-neutral: a ``VenueScript`` says which captured frames a subscribe message covers, keeps
whatever state the venue's REST answers need (rebuilt books, recent trades) and answers REST
requests. ``FakeVenue`` replays the captured frames in order, once the test calls ``release``,
to every connection subscribed to their topic, at the recorded pace (``speed``) or as fast as
the connections take them (``speed=None``), and injects ``Faults`` at fixed frame indices so
every run is the same.

Frames "happen" whether or not anyone receives them: a frame skipped by a fault, or passing
while no connection is open, still changes the venue's books and recent trades, as on a real
venue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


class VenueScript(Protocol):
    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        """A client message: (replies to send, topics it subscribes to)."""
        ...

    def topic(self, frame: str) -> str | None:
        """The topic of a captured frame (None: never sent)."""
        ...

    def happened(self, index: int, frame: str) -> None:
        """Frame ``index`` is now in the past (sent or not): update books and trades."""
        ...

    def subscribed(self) -> None:
        """A connection subscribed (snapshots wait for its first depth frame)."""
        ...

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        """A REST GET: (status, JSON body)."""
        ...


@dataclass
class Faults:
    drop_after: int | None = None
    """Abort every connection (no close frame) right after sending this frame index."""
    drop_lose: int = 0
    """Frames that pass unsent while the venue is unreachable after the drop."""
    skip: frozenset[int] = frozenset()
    """Frame indices never sent (a lost sequence number, a lost trade)."""
    silent_after: int | None = None
    """Stop sending after this frame index, connections left open, until one subscribes anew."""
    replace: dict[int, str] = field(default_factory=dict)
    """Frames sent instead of the captured ones (malformed or corrupted messages); the captured
    frame still happens."""


@dataclass
class _Client:
    connection: ServerConnection
    topics: set[str] = field(default_factory=set)


class FakeVenue:
    def __init__(
        self,
        frames: Sequence[tuple[int, str]],
        script: VenueScript,
        *,
        speed: float | None = None,
        faults: Faults | None = None,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.frames = frames
        self.rewrite = rewrite
        """Applied to each frame as it is sent (a benchmark restamps venue times with now)."""
        self.script = script
        self.speed = speed
        self.faults = faults or Faults()
        self.port = 0
        self.done = asyncio.Event()
        self.sent = 0
        self.connections = 0
        self.subscriptions = 0
        self._released = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._lock = asyncio.Lock()
        """A subscription's replies (a venue's book snapshot) and frames are never interleaved."""
        self._clients: dict[int, _Client] = {}
        self._server: Server | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._http, compression=None
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        self._pump = asyncio.create_task(self._run())

    def release(self) -> None:
        """Start replaying (once a connection has subscribed)."""
        self._released.set()

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        url = urlsplit(request.path)
        status, body = await self.script.rest(url.path, dict(parse_qsl(url.query)))
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(status, "OK" if status == 200 else "Error", headers, body)

    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        self.connections += 1
        key = self.connections
        self._clients[key] = client
        try:
            async for message in connection:
                async with self._lock:  # no frame passes between the replies and the topics
                    replies, topics = self.script.subscribe(str(message))
                    for reply in replies:
                        await connection.send(reply)
                    if topics:
                        client.topics |= topics
                        self.subscriptions += 1
                        self.script.subscribed()
                        self._subscribed.set()
        finally:
            del self._clients[key]

    async def _run(self) -> None:
        await self._subscribed.wait()
        await self._released.wait()
        faults = self.faults
        previous_ns = self.frames[0][0] if self.frames else 0
        index = 0
        while index < len(self.frames):
            local_ns, frame = self.frames[index]
            if self.speed is not None and local_ns > previous_ns:
                await asyncio.sleep((local_ns - previous_ns) / 1e9 / self.speed)
            else:
                await asyncio.sleep(0)  # let REST requests and the connections run
            previous_ns = local_ns
            async with self._lock:
                self.script.happened(index, frame)
                if index not in faults.skip:
                    await self._send(frame, faults.replace.get(index))
            if index == faults.drop_after:
                index = await self._drop(index)
            elif index == faults.silent_after:
                await self._silence()
            index += 1
        self.done.set()

    async def _send(self, frame: str, replacement: str | None = None) -> None:
        topic = self.script.topic(frame)
        if topic is None:
            return
        if self.rewrite is not None:
            frame = self.rewrite(frame)
        if replacement is not None:
            frame = replacement
        for client in list(self._clients.values()):
            if topic in client.topics:
                with contextlib.suppress(Exception):
                    await client.connection.send(frame)
                    self.sent += 1

    async def _drop(self, index: int) -> int:
        """Abort every connection; ``drop_lose`` frames pass; wait for a new subscription."""
        self._subscribed.clear()
        for client in list(self._clients.values()):
            client.topics.clear()
            client.connection.transport.abort()
        for lost in range(index + 1, min(index + 1 + self.faults.drop_lose, len(self.frames))):
            self.script.happened(lost, self.frames[lost][1])
        await self._subscribed.wait()
        return index + self.faults.drop_lose

    async def _silence(self) -> None:
        """Keep the connections open but send nothing until a connection subscribes anew."""
        self._subscribed.clear()
        for client in list(self._clients.values()):
            client.topics.clear()
        await self._subscribed.wait()
