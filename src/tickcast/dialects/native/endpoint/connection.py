"""One native WebSocket connection: messages → Session; outbox and shared batches → transport.

Two ways to run, same behaviour on the wire:

* **detached** (tickcast's uvicorn protocol, the normal case): after the handshake the endpoint
  hands the connection to the protocol (``tickcast.detach``) and returns. Messages arrive through
  ``on_message`` (a short task runs only while one is being handled), the outbox is written from
  a loop callback scheduled by ``wake``, and the hub writes shared batches straight to the
  transport (``direct_sink``). An idle connection owns no task.
* **task-based** (any other ASGI server): a read loop and a writer task over Starlette's
  WebSocket, one ``websocket.send`` per frame unless the batched-write extension is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import orjson
from starlette.websockets import WebSocket

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.dialects.native.endpoint import history as native_history
from tickcast.dialects.native.wire import protocol as native
from tickcast.hub import Joined
from tickcast.model import StreamPosition
from tickcast.server.connections import CLOSE_TIMEOUT_S, Admission, Lease, connection_info
from tickcast.server.node import Node
from tickcast.server.seam import ProtocolSink, detach, frame_writer, incoming, sink_of
from tickcast.server.writer import WRITE_CHUNK, write_forever, write_now
from tickcast.session import Attach, Close, Detach, Send, Session
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
INBOX_PAUSE = 32
"""Client messages waiting to be handled beyond which reading from the socket pauses."""


class NativeConnection:
    dialect = "native"
    __slots__ = (
        "_admission",
        "_closed",
        "_closing",
        "_detached",
        "_flushed",
        "_inbox",
        "_lease",
        "_reader",
        "_sink",
        "_wake",
        "_websocket",
        "_write_scheduled",
        "bytes",
        "id",
        "messages",
        "node",
        "opened_at",
        "outbox",
        "principal",
        "remote",
        "session",
    )
    """Slotted: thousands of idle connections (docs/performance.md, idle memory)."""

    def __init__(
        self,
        *,
        node: Node,
        websocket: WebSocket,
        admission: Admission,
        session: Session,
        principal: Principal | None = None,
    ) -> None:
        """``principal``: an equal principal shared by other connections (default: the
        admission's)."""
        self.id = f"c{next(_ids)}"
        self.node = node
        self.principal: Principal = principal or admission.principal
        self._admission: Admission | None = admission
        self._lease: Lease | None = None
        self.session = session
        self._websocket: WebSocket | None = websocket
        self._sink: ProtocolSink | None = sink_of(websocket.scope)
        client = websocket.client
        self.remote = f"{client.host}:{client.port}" if client else "?"
        self.opened_at = time.time()
        self.outbox = Outbox(max_bytes=node.config.outbox_bytes, policy=OverflowPolicy.RESYNC)
        self._closing = False
        self._closed = False
        self._detached = False
        self._write_scheduled = False
        self._inbox: list[str | bytes] | None = None
        """Client messages waiting to be handled (detached mode; None while there are none)."""
        self._reader: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._flushed: asyncio.Event | None = None
        self.messages = 0
        self.bytes = 0

    # -- Subscriber protocol (called by the hub) --------------------------------------------

    def wake(self) -> None:
        if self._detached:
            if not self._write_scheduled:
                self._write_scheduled = True
                asyncio.get_running_loop().call_soon(self._write_now)
        elif self._wake is not None:
            self._wake.set()

    def overflow(self) -> None:
        self.node.metrics.overflows.inc()

    # -- SharedSubscriber protocol: the hub writes shared batches straight to the transport --

    def direct_sink(self) -> ProtocolSink | None:
        return self._sink

    def delivered(self, messages: int, nbytes: int) -> None:
        self.messages += messages
        self.bytes += nbytes
        self.node.delivered(self.principal.key_id, messages, nbytes)

    # -- lifecycle --------------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        self.node.hub.settle(self)
        return connection_info(
            self,
            subscriptions=sorted(self.session.subscriptions),
            pending_bytes=self.outbox.pending_bytes,
            messages=self.messages,
            nbytes=self.bytes,
        )

    def _opened(self) -> None:
        assert self._admission is not None
        self._lease = self._admission.open(self)
        self._admission = None  # the lease holds the slot now

    def _cleanup(self) -> None:
        """Leave every stream and unregister (once)."""
        if self._closed:
            return
        self._closed = True
        node = self.node
        for stream in list(self.session.subscriptions):
            node.hub.detach(self, stream)
        if self._lease is not None:
            self._lease.end()  # unregisters, meters and gives the user's slot back
        elif self._admission is not None:
            self._admission.cancel()

    @staticmethod
    def _initial_subscribe(initial_streams: str | None) -> bytes | None:
        if not initial_streams:
            return None
        streams = [s for s in initial_streams.split(",") if s]
        return orjson.dumps({"type": "Subscribe", "id": 0, "streams": streams})

    # -- detached mode ----------------------------------------------------------------------

    @property
    def detachable(self) -> bool:
        return self._sink is not None

    async def detach(self, *, initial_streams: str | None) -> None:
        """Hand the connection to the protocol's callbacks; returns at once (the caller's ASGI
        call may end). ``on_disconnect`` releases everything, the user's slot included."""
        websocket = self._websocket
        assert websocket is not None and self._sink is not None
        self._opened()
        self._detached = True
        first = self._initial_subscribe(initial_streams)
        if first is not None:
            self.on_message(first)
        await detach(websocket, self)
        self._websocket = None

    def on_message(self, data: str | bytes) -> None:
        if self._closing:
            return
        if self._inbox is None:
            self._inbox = []
        self._inbox.append(data)
        if len(self._inbox) >= INBOX_PAUSE and self._sink is not None:
            self._sink.pause_reading()
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._handle_inbox())

    def on_disconnect(self) -> None:
        self._closing = True
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        self._cleanup()

    async def _handle_inbox(self) -> None:
        try:
            while self._inbox and not self._closing:
                data = self._inbox.pop(0)
                if len(self._inbox) == INBOX_PAUSE - 1 and self._sink is not None:
                    self._sink.resume_reading()
                if not self._inbox:
                    self._inbox = None
                await self._receive(data)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("connection %s: message handling failed", self.id, exc_info=True)
        finally:
            self._reader = None

    def _write_now(self) -> None:
        self._write_scheduled = False
        sink = self._sink
        assert sink is not None
        write_now(self, sink, sink.framing)

    # -- Drained protocol (server/writer.py, the one outbox writer) ---------------------------

    def take(self) -> list[bytes]:
        return self.outbox.drain(WRITE_CHUNK)

    def wrote(self, frames: list[bytes]) -> None:
        self._count(frames)
        self.node.hub.replay_more(self)
        for resync in self.outbox.take_resyncs():
            self.node.hub.resync(self, resync)

    def emptied(self) -> None:
        if self._sink is not None and not self._closing:
            self.node.hub.promote(self)  # the outbox is empty: take shared batches again

    def _count(self, frames: list[bytes]) -> None:
        count = len(frames)
        nbytes = sum(len(frame) for frame in frames)
        self.messages += count
        self.bytes += nbytes
        self.node.delivered(self.principal.key_id, count, nbytes)

    # -- task-based mode --------------------------------------------------------------------

    async def run(self, *, initial_streams: str | None) -> None:
        self._opened()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        writer = asyncio.create_task(self._write_forever())
        try:
            first = self._initial_subscribe(initial_streams)
            if first is not None:
                await self._receive(first)
            await self._read_forever()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            self._cleanup()

    async def _read_forever(self) -> None:
        websocket = self._websocket
        assert websocket is not None
        async for data in incoming(websocket):
            await self._receive(data)
            if self._closing:
                return

    async def _write_forever(self) -> None:
        try:
            await self._write_loop()
        except asyncio.CancelledError:
            raise
        except OSError:  # the peer went away (uvicorn's ClientDisconnected is an OSError)
            logger.debug("connection %s: peer gone while writing", self.id)
        except Exception:
            logger.warning("connection %s: write failed", self.id, exc_info=True)

    async def _write_loop(self) -> None:
        websocket = self._websocket
        assert websocket is not None and self._wake is not None and self._flushed is not None
        await write_forever(self, frame_writer(websocket), self._wake, self._flushed)

    # -- both -------------------------------------------------------------------------------

    async def _receive(self, data: str | bytes) -> None:
        self.session.receive_text(data)
        for output in self.session.outputs_to_send():
            match output:
                case Send():
                    self.outbox.push_control(output.frame)
                    self.wake()
                case Attach():
                    await self._attach(output)
                case Detach():
                    for stream in output.streams:
                        self.node.hub.detach(self, stream)
                case Close():
                    await self.close(output.code, output.reason, retry=False)

    async def _attach(self, attach: Attach) -> None:
        if await native_history.wants_history(self, attach):  # history hook (issue 17)
            await native_history.attach_with_history(self, attach)
            return
        hub = self.node.hub
        encoder = self.node.native
        joined: list[Joined] = []
        for key, view, resume in attach.streams:
            assert not isinstance(resume, native.TimeStart)  # handled by native_history
            joined.append(
                await hub.attach(
                    self,
                    encoder,
                    key,
                    view,
                    resume,
                    max_replay=self.principal.plan.history_depth,
                    page_replay=True,
                )
            )
        if self._closed:  # the client left while the store or bus was answering
            for item in joined:
                hub.detach(self, item.stream)
            return
        positions: list[tuple[str, StreamPosition]] = [(j.stream, j.position) for j in joined]
        self.outbox.push_control(native.subscribed_frame(attach.id, positions))
        for item in joined:
            hub.go_live(self, item, encoder)
        self.wake()

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """Send ``Closing`` (after whatever is queued), then the close frame."""
        if self._closing:
            return
        self._closing = True
        self.outbox.push_control(native.closing_frame(code, reason, retry=retry))
        if self._detached:
            await self._close_detached(code, reason)
            return
        assert self._flushed is not None and self._websocket is not None
        self._flushed.clear()
        self.wake()
        try:
            await asyncio.wait_for(self._flushed.wait(), timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.info("connection %s: Closing not flushed in time", self.id)
        try:
            await self._websocket.close(code, reason)
        except Exception:  # the peer may be gone already
            logger.debug("close of %s failed", self.id, exc_info=True)

    async def _close_detached(self, code: int, reason: str) -> None:
        sink = self._sink
        assert sink is not None
        self._write_now()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while len(self.outbox) and sink.open:
            if time.monotonic() > deadline:
                logger.info("connection %s: Closing not flushed in time", self.id)
                break
            await asyncio.sleep(0.01)
            self._write_now()
        for stream in list(self.session.subscriptions):  # no shared batch after the close frame
            self.node.hub.detach(self, stream)
        await sink.close(code, reason)
