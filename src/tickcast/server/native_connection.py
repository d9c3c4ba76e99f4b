"""One native WebSocket connection: read loop → Session; writer task ← outbox."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.dialects import native
from tickcast.hub import Joined
from tickcast.model import StreamPosition
from tickcast.server.node import Node, connection_info
from tickcast.server.ws_protocol import WRITE_EXTENSION, ProtocolSink, sink_of
from tickcast.session import Attach, Close, Detach, Send, Session
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
WRITE_CHUNK = 65_536
"""Bytes taken from the outbox per write pass: a stalled connection holds at most its outbox
budget plus one chunk in user space."""


class NativeConnection:
    dialect = "native"

    def __init__(
        self, *, node: Node, websocket: WebSocket, principal: Principal, session: Session
    ) -> None:
        self.id = f"c{next(_ids)}"
        self.node = node
        self.principal = principal
        self.session = session
        self._websocket = websocket
        self._batched = WRITE_EXTENSION in websocket.scope.get("extensions", {})
        self._sink: ProtocolSink | None = sink_of(websocket.scope)
        client = websocket.client
        self.remote = f"{client.host}:{client.port}" if client else "?"
        self.opened_at = time.time()
        self.outbox = Outbox(max_bytes=node.config.outbox_bytes, policy=OverflowPolicy.RESYNC)
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._closing = False
        self.messages = 0
        self.bytes = 0

    # -- Subscriber protocol (called by the hub) --------------------------------------------

    def wake(self) -> None:
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

    async def run(self, *, initial_streams: str | None) -> None:
        node = self.node
        node.connections[self.id] = self
        node.metrics.connections.labels(self.dialect).inc()
        node.meter.connection_opened(self.principal.key_id)
        writer = asyncio.create_task(self._write_forever())
        try:
            if initial_streams:
                streams = [s for s in initial_streams.split(",") if s]
                message = {"type": "Subscribe", "id": 0, "streams": streams}
                await self._receive(orjson.dumps(message))
            await self._read_forever()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            for stream in list(self.session.subscriptions):
                node.hub.detach(self, stream)
            node.connections.pop(self.id, None)
            node.metrics.connections.labels(self.dialect).dec()
            node.meter.connection_closed(self.principal.key_id, time.time() - self.opened_at)

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self._websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            if data is not None:
                await self._receive(data)
            if self._closing:
                return

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
        hub = self.node.hub
        encoder = self.node.native
        joined: list[Joined] = []
        for key, view, resume in attach.streams:
            joined.append(
                await hub.attach(
                    self,
                    encoder,
                    key,
                    view,
                    resume,
                    max_replay=self.principal.plan.history_depth,
                )
            )
        positions: list[tuple[str, StreamPosition]] = [(j.stream, j.position) for j in joined]
        self.outbox.push_control(native.subscribed_frame(attach.id, positions))
        for item in joined:
            hub.go_live(self, item, encoder)
        self.wake()

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
        # Starlette's WebSocket.send only passes standard messages; the batched-write extension
        # goes straight to the ASGI send callable (announced in scope["extensions"]).
        send = self._websocket._send if self._batched else self._websocket.send
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(self.outbox):
                frames = self.outbox.drain(WRITE_CHUNK)
                if self._batched:
                    await send({"type": WRITE_EXTENSION, "frames": frames})
                else:
                    for frame in frames:
                        await send({"type": "websocket.send", "text": frame.decode()})
                count = len(frames)
                nbytes = sum(len(frame) for frame in frames)
                self.messages += count
                self.bytes += nbytes
                self.node.delivered(self.principal.key_id, count, nbytes)
                for resync in self.outbox.take_resyncs():
                    self.node.hub.resync(self, resync)
            if self._sink is not None and not self._closing:
                self.node.hub.promote(self)  # the outbox is empty: take shared batches again
            self._flushed.set()

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """Send ``Closing`` (after whatever is queued), then the close frame."""
        if self._closing:
            return
        self._closing = True
        self._flushed.clear()
        self.outbox.push_control(native.closing_frame(code, reason, retry=retry))
        self.wake()
        try:
            await asyncio.wait_for(self._flushed.wait(), timeout=2.0)
        except TimeoutError:
            logger.info("connection %s: Closing not flushed in time", self.id)
        try:
            await self._websocket.close(code, reason)
        except Exception:  # the peer may be gone already
            logger.debug("close of %s failed", self.id, exc_info=True)
