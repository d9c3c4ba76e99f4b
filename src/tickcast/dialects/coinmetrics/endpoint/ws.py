"""One Coin Metrics stream connection (``/v4/timeseries-stream/<endpoint>``, admitted by
``endpoint.admit``). A fatal error goes in-band, then close 1008. At server shutdown
the TCP connection is dropped without a close frame, so the client reconnects.

Frames come from the hub already encoded once per (variant, stream). Two ways to run, the same
on the wire (as the native dialect):

* **detached** (tickcast's protocol, the normal case): after the handshake the connection is
  handed to the protocol (``tickcast.detach``) and the ASGI call returns; an idle connection owns
  no task. Live, it is a member of a shared hub channel: each loop pass's batch is parsed once
  and every connection writes it with its own ``cm_sequence_id``s straight to its transport
  (``endpoint.sink``). Its outbox (backfill, errors, frames queued while it is demoted for
  reading slowly) is written from a loop callback, each data message numbered
  (``wire.framing``), and the connection then goes back to the channel. A task runs only while
  the request's streams are joined.
* **task-based** (any other ASGI server): a read loop and a writer task over Starlette's
  WebSocket, draining the outbox the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.dialects.coinmetrics.endpoint.joins import Joins
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.endpoint.sink import CmSink
from tickcast.dialects.coinmetrics.wire import errors, framing, query
from tickcast.dialects.coinmetrics.wire.errors import CmWire
from tickcast.dialects.coinmetrics.wire.streams import (
    StreamRequest,
)
from tickcast.errors import TickcastError
from tickcast.server.connections import CLOSE_TIMEOUT_S, Admission, Lease, connection_info
from tickcast.server.node import Node
from tickcast.server.refusals import refusal_of
from tickcast.server.seam import (
    ProtocolSink,
    close_frame,
    detach,
    drop_transport,
    frame_batch,
    frame_writer,
    sink_of,
    transport_of,
)
from tickcast.server.writer import WRITE_CHUNK, write_forever, write_now
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
_NO_PARAMS: dict[str, str] = {}
WARN_RATIO = 0.6
"""``falling_behind`` when the outbox is over 60 % full (the vendor's documented level)."""
STALL_LINGER_S = 10.0
"""How long a stalled connection may take to read its last bytes before TCP is dropped."""


def _wire(error: TickcastError) -> CmWire:
    """``error``'s cell in the refusal table's Coin Metrics column (a stream fails only with
    errors of that column)."""
    wire = refusal_of(error).coinmetrics
    assert wire is not None, error
    return wire


def _kept_query(params: dict[str, str] | None) -> dict[str, str]:
    """The query a connection keeps, to match its patterns again when markets are listed later:
    only when it has patterns (the shared, never mutated, empty dict otherwise)."""
    if params is not None and any(map(query.is_pattern, params.values())):
        return params
    return _NO_PARAMS


class CmConnection:
    dialect = "coinmetrics"

    def __init__(
        self,
        *,
        node: Node,
        service: CoinMetricsService,
        websocket: WebSocket,
        admission: Admission,
        request: StreamRequest,
        params: dict[str, str] | None = None,
    ) -> None:
        self.id = f"cm{next(_ids)}"
        self.params = _kept_query(params)
        self.node = node
        self.service = service
        self.principal: Principal = admission.principal
        self._admission = admission
        self.request = request
        self._websocket: WebSocket | None = websocket
        self._lease: Lease | None = None
        client = websocket.client
        self.remote = f"{client.host}:{client.port}" if client else "?"
        self.opened_at = time.time()
        self.outbox = Outbox(
            max_bytes=node.config.outbox_bytes,
            policy=OverflowPolicy.DISCONNECT,
            warn_ratio=WARN_RATIO,
        )
        self.next_id = 0
        """The next ``cm_sequence_id`` (per connection, from 0)."""
        self._joins = Joins(self)
        self._wake: asyncio.Event | None = None
        self._flushed: asyncio.Event | None = None
        self._write_scheduled = False
        self._transport: Any = None
        """Detached: the connection's transport (for a drop, or the stall error past flow
        control); task-based: found through the WebSocket when needed."""
        self._warning_queued = False
        self._warning_sent = False
        self._warning: bytes | None = None
        self._closing = False
        self._ended = False
        self._writer: asyncio.Task[None] | None = None
        self._stall_task: asyncio.Task[None] | None = None
        self.messages = 0
        self.bytes = 0
        self._protocol_sink: ProtocolSink | None = sink_of(websocket.scope)
        protocol_sink = self._protocol_sink
        self._sink = CmSink(protocol_sink, self) if protocol_sink is not None else None

    # -- Subscriber protocol (called by the hub) --------------------------------------------

    def wake(self) -> None:
        outbox = self.outbox
        if outbox.warned and not self._joins.joining:
            if not self._warning_queued and not self._closing:
                self._warning_queued, self._warning_sent = True, False
                self._warning = errors.falling_behind_frame()
                outbox.push_control(self._warning)
        else:
            self._warning_queued = False
        if self._wake is not None:
            self._wake.set()
        elif not self._write_scheduled and not self._ended:
            self._write_scheduled = True
            asyncio.get_running_loop().call_soon(self._write_now)

    def overflow(self) -> None:
        """The outbox is full: ``stall`` error, then close (DISCONNECT policy)."""
        self.node.metrics.overflows.inc()
        if self._stall_task is None and not self._closing:
            self._stall_task = asyncio.get_running_loop().create_task(self._stall())

    # -- SharedSubscriber protocol: the hub's channel writes batches through the sink --------

    def direct_sink(self) -> CmSink | None:
        return self._sink

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def ended(self) -> bool:
        return self._ended

    def delivered(self, messages: int, nbytes: int) -> None:
        """The channel's report in arrears, of frames with placeholders: the sink meters what
        it wrote instead."""
        if self._sink is not None:
            self._sink.meter(self.node, self.principal.key_id)

    # -- lifecycle ---------------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        self.node.hub.settle(self)
        return connection_info(
            self,
            subscriptions=list(self._joins.streams),
            pending_bytes=self.outbox.pending_bytes,
            messages=self.messages,
            nbytes=self.bytes,
        )

    @property
    def detachable(self) -> bool:
        return self._protocol_sink is not None

    async def run(self) -> None:
        """Task-based: read until the client leaves, a writer task drains the outbox."""
        self._wake, self._flushed = asyncio.Event(), asyncio.Event()
        async with self._admission.opened(self):
            writer = self._writer = asyncio.create_task(self._write_forever())
            self.service.streams.add(self)
            try:
                await self._joins.join_request()
                await self._read_forever()
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
                self._end()

    async def detach(self) -> None:
        """Hand the connection to the protocol's callbacks; returns at once. The joins run in a
        task of their own; ``on_disconnect`` releases everything, the user's slot included."""
        websocket = self._websocket
        assert websocket is not None
        self._transport = transport_of(websocket)
        self._lease = self._admission.open(self)
        self.service.streams.add(self)
        joins = self._joins
        joins.task = asyncio.get_running_loop().create_task(joins.join_request())
        await detach(websocket, self)
        self._websocket = None

    def on_message(self, data: str | bytes) -> None:
        """The client sends nothing the dialect reads."""

    def on_disconnect(self) -> None:
        self._closing = True
        self._end()

    def _end(self) -> None:
        """Leave every stream and the service, stop the tasks, end the lease (once)."""
        if self._ended:
            return
        self._ended = True
        self._joins.cancel()
        self.service.streams.discard(self)
        self._detach_all()
        if self._lease is not None:
            self._lease.end()  # unregisters, meters and gives the user's slot back

    def catalog_grew(self) -> None:
        self._joins.catalog_grew()

    def _detach_all(self) -> None:
        self._joins.detach_all()

    async def _read_forever(self) -> None:
        """The client sends nothing but control frames; wait for it to go away."""
        websocket = self._websocket
        assert websocket is not None
        while not self._closing:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return

    async def _write_forever(self) -> None:
        try:
            await self._write_loop()
        except asyncio.CancelledError:
            raise
        except OSError:
            logger.debug("connection %s: peer gone while writing", self.id)
        except Exception:
            logger.warning("connection %s: write failed", self.id, exc_info=True)

    def take(self) -> list[bytes]:
        """The next chunk of the outbox as this connection's numbered messages."""
        outbox = self.outbox
        payloads, self.next_id = framing.number(outbox.drain(WRITE_CHUNK), self.next_id)
        if not outbox.warned:
            self._warning_queued = False
        if self._warning is not None and any(p is self._warning for p in payloads):
            self._warning, self._warning_sent = None, True
        return payloads

    def wrote(self, payloads: list[bytes]) -> None:
        count, nbytes = len(payloads), sum(len(p) for p in payloads)
        self.messages += count
        self.bytes += nbytes
        self.node.delivered(self.principal.key_id, count, nbytes)

    def emptied(self) -> None:
        """The outbox is empty: a detached connection takes shared batches again."""
        if self._wake is None and not self._closing:
            self.node.hub.promote(self)

    async def _write_loop(self) -> None:
        assert self._websocket is not None and self._wake is not None
        assert self._flushed is not None
        await write_forever(self, frame_writer(self._websocket), self._wake, self._flushed)

    def _write_now(self) -> None:
        """Detached: write the outbox (a loop callback scheduled by ``wake``), then go back to
        the shared channel (``server/writer.py``)."""
        self._write_scheduled = False
        sink = self._protocol_sink
        assert sink is not None
        write_now(self, sink, frame_batch)

    async def _stall(self) -> None:
        """Queued frames are dropped; the warning (unless already written), the ``stall`` error
        and a close frame go straight to the transport, past flow control (the writer may be
        blocked on a paused transport), then the connection is closed."""
        self._detach_all()
        self.outbox.drain()
        websocket = self._websocket
        transport = transport_of(websocket) if websocket is not None else self._transport
        if transport is None or transport.is_closing():
            await self.fail(errors.stall())
            return
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()  # it writes only whole batches, so none is cut
        stall = errors.stall()
        wire = _wire(stall)
        payloads = [wire.body(stall)]
        if not self._warning_sent:
            payloads.insert(0, errors.falling_behind_frame())
        transport.write(frame_batch(payloads) + close_frame(errors.CLOSE_POLICY, wire.type))
        transport.close()  # flushes what is buffered, then FIN
        asyncio.get_running_loop().call_later(STALL_LINGER_S, transport.abort)

    async def fail(self, error: TickcastError) -> None:
        """Send ``error`` in-band (after what is queued), then close 1008."""
        if self._closing:
            return
        wire = _wire(error)
        self.outbox.push_control(wire.body(error))
        await self._close_after_flush(errors.CLOSE_POLICY, wire.type)

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """``retry`` (shutdown, restart): drop TCP so the official client reconnects by itself;
        otherwise (operator close) a close frame, which stops the client."""
        if self._closing:
            return
        if retry:
            self._closing = True
            self._detach_all()
            if self._drop():
                return
            self._closing = False
        await self._close_after_flush(code, reason)

    def _drop(self) -> bool:
        """Drop the TCP connection without a close frame (the client reconnects)."""
        if self._websocket is not None:
            return drop_transport(self._websocket)
        transport = self._transport
        if transport is None:
            return False
        transport.abort()  # the protocol's connection_lost marks it closed: no close frame
        return True

    async def _close_after_flush(self, code: int, reason: str) -> None:
        sink = self._protocol_sink
        detached = self._websocket is None and sink is not None
        if detached:
            self.node.hub.flush()  # what the hub's channels hold for it goes out first
        self._closing = True
        if detached and sink is not None:
            await self._flush_detached(sink)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sink.close(code, reason), CLOSE_TIMEOUT_S)
            return
        assert self._flushed is not None and self._wake is not None
        assert self._websocket is not None
        self._flushed.clear()
        self._wake.set()
        try:
            await asyncio.wait_for(self._flushed.wait(), timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.info("connection %s: error not flushed in time", self.id)
        try:
            await asyncio.wait_for(self._websocket.close(code, reason), CLOSE_TIMEOUT_S)
        except Exception:
            logger.debug("close of %s failed", self.id, exc_info=True)
            drop_transport(self._websocket)

    async def _flush_detached(self, sink: ProtocolSink) -> None:
        """Write what is queued (the error last), waiting for the transport, bounded."""
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        self._write_now()
        while len(self.outbox) and sink.open:
            if time.monotonic() > deadline:
                logger.info("connection %s: error not flushed in time", self.id)
                return
            await asyncio.sleep(0.01)
            self._write_now()
