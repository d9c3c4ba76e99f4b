"""One Coin Metrics stream connection (``/v4/timeseries-stream/<endpoint>``, admitted by
``endpoint.admit``). A fatal error goes in-band, then close 1008. At server shutdown
the TCP connection is dropped without a close frame, so the client reconnects.

Frames come from the hub already encoded once per (variant, stream). Under tickcast's protocol a
live connection is a member of a shared hub channel: each loop pass's batch is parsed once and
every connection writes it with its own ``cm_sequence_id``s straight to its transport
(``endpoint.sink``). The writer task only drains the connection's outbox (backfill, errors,
and frames queued while it is demoted for reading slowly), numbering each data message
(``wire.framing``), then hands the connection back to the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Sequence

from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.dialects.coinmetrics.endpoint.backfill import stored_backfill
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.endpoint.sink import CmSink
from tickcast.dialects.coinmetrics.wire import errors, framing, query
from tickcast.dialects.coinmetrics.wire.errors import CmError, CmWire
from tickcast.dialects.coinmetrics.wire.streams import (
    StreamRequest,
    Subscription,
    parse_stream_request,
)
from tickcast.errors import TickcastError
from tickcast.hub import Joined
from tickcast.model import StreamClass, StreamKind, StreamPosition
from tickcast.server.connections import CLOSE_TIMEOUT_S, Admission, connection_info
from tickcast.server.node import Node
from tickcast.server.refusals import refusal_of
from tickcast.server.seam import (
    close_frame,
    drop_transport,
    frame_batch,
    frame_writer,
    sink_of,
    transport_of,
)
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
WRITE_CHUNK = 65_536
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
        self.params = params or {}
        """The query, to match patterns again when markets are listed later."""
        self.node = node
        self.service = service
        self.principal: Principal = admission.principal
        self._admission = admission
        self.request = request
        self._websocket = websocket
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
        self._streams: list[str] = []
        """Streams joined so far."""
        self._expand: asyncio.Task[None] | None = None
        self._joined = asyncio.Event()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._joining = True
        """Backfill frames may exceed the warning level: the writer drains them right away."""
        self._warning_queued = False
        self._warning_sent = False
        self._warning: bytes | None = None
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._stall_task: asyncio.Task[None] | None = None
        self.messages = 0
        self.bytes = 0
        self._unmetered = [0, 0]
        """Messages and bytes written by the channel, not yet metered (``delivered``)."""
        protocol_sink = sink_of(websocket.scope)
        self._sink = CmSink(protocol_sink, self) if protocol_sink is not None else None

    # -- Subscriber protocol (called by the hub) --------------------------------------------

    def wake(self) -> None:
        outbox = self.outbox
        if outbox.warned and not self._joining:
            if not self._warning_queued and not self._closing:
                self._warning_queued, self._warning_sent = True, False
                self._warning = errors.falling_behind_frame()
                outbox.push_control(self._warning)
        else:
            self._warning_queued = False
        self._wake.set()

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

    def written(self, messages: int, nbytes: int) -> None:
        """The sink wrote a shared batch for this connection (metered at ``delivered``)."""
        self.messages += messages
        self.bytes += nbytes
        unmetered = self._unmetered
        unmetered[0] += messages
        unmetered[1] += nbytes

    def delivered(self, messages: int, nbytes: int) -> None:
        """The channel's report in arrears; its counts are of frames with placeholders, so the
        sink's own (``written``) are metered instead."""
        count, size = self._unmetered
        if count:
            self._unmetered = [0, 0]
            self.node.delivered(self.principal.key_id, count, size)

    # -- lifecycle ---------------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        self.node.hub.settle(self)
        return connection_info(
            self,
            subscriptions=list(self._streams),
            pending_bytes=self.outbox.pending_bytes,
            messages=self.messages,
            nbytes=self.bytes,
        )

    async def run(self) -> None:
        async with self._admission.opened(self):
            await self._run()

    async def _run(self) -> None:
        writer = self._writer = asyncio.create_task(self._write_forever())
        self.service.streams.add(self)
        try:
            await self._join(self.request.subscriptions)
            self._joining = False
            self._joined.set()
            await self._read_forever()
        finally:
            self.service.streams.discard(self)
            if self._expand is not None:
                self._expand.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            self._detach_all()

    async def _join(self, subscriptions: Sequence[Subscription]) -> None:
        hub, bus = self.node.hub, self.node.bus
        request = self.request
        encoder = self.service.encoders.get(request.encoder)
        for sub in subscriptions:
            if self._closing:
                return
            stream = str(sub.key)
            resume: StreamPosition | None = None
            event_stream = sub.key.stream_class is StreamClass.EVENT
            if event_stream and request.backfill and sub.backfill and request.replay:
                position = await bus.position(stream)
                if position.seq > 0:
                    resume = StreamPosition(max(0, position.seq - request.replay), position.epoch)
            self._streams.append(stream)
            joined = await hub.attach(self, encoder, sub.key, sub.view, resume)
            limit = self._store_look_back(sub)
            if limit and not any(joined.frames):  # the bus/state had nothing: the store
                stored = await stored_backfill(
                    self.node.history, encoder, stream, joined.position, limit
                )
                joined = dataclasses.replace(joined, frames=stored)
            hub.go_live(self, self._backfill(joined, sub.key.kind, sub.backfill), encoder)
            await asyncio.sleep(0)  # let the writer drain the backfill between streams

    def _store_look_back(self, sub: Subscription) -> int:
        """How many stored events a backfill from the store looks through (0: none): EVENT
        streams as their bus backfill; ``market-quotes`` its last quote."""
        request = self.request
        if not (request.backfill and sub.backfill):
            return 0
        if sub.key.stream_class is StreamClass.EVENT:
            return request.replay
        return 1 if request.endpoint == "market-quotes" else 0

    def catalog_grew(self) -> None:
        if self._closing or not any(query.is_pattern(v) for v in self.params.values()):
            return
        if self._expand is None or self._expand.done():
            self._expand = asyncio.get_running_loop().create_task(self._expand_patterns())

    async def _expand_patterns(self) -> None:
        """Join the streams of newly listed markets that the request's patterns match."""
        await self._joined.wait()
        try:
            request = parse_stream_request(
                self.request.endpoint,
                self.params,
                catalog=self.node.catalog,
                plan=self.principal.plan,
                visible=self.service.visible_to(self.principal),
            )
        except CmError:
            return
        joined = set(self._streams)
        room = self.principal.plan.max_subscriptions - len(joined)
        new = [sub for sub in request.subscriptions if str(sub.key) not in joined][: max(room, 0)]
        await self._join(new)

    def _backfill(self, joined: Joined, kind: StreamKind, wanted: bool) -> Joined:
        """Keep the frames ``backfill`` asks for (books always start with their snapshot)."""
        if kind is not StreamKind.BOOK and not (self.request.backfill and wanted):
            frames: tuple[bytes, ...] = ()
        else:
            kept = [frame for frame in joined.frames if frame]
            frames = tuple(kept[-self.request.keep :])
        return dataclasses.replace(joined, frames=frames)

    def _detach_all(self) -> None:
        for stream in self._streams:
            self.node.hub.detach(self, stream)

    async def _read_forever(self) -> None:
        """The client sends nothing but control frames; wait for it to go away."""
        while not self._closing:
            try:
                message = await self._websocket.receive()
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

    async def _write_loop(self) -> None:
        write = frame_writer(self._websocket)
        outbox = self.outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(outbox):
                payloads, self.next_id = framing.number(outbox.drain(WRITE_CHUNK), self.next_id)
                if not outbox.warned:
                    self._warning_queued = False
                if not payloads:
                    continue
                if self._warning is not None and any(p is self._warning for p in payloads):
                    self._warning, self._warning_sent = None, True
                await write(payloads)
                count, nbytes = len(payloads), sum(len(p) for p in payloads)
                self.messages += count
                self.bytes += nbytes
                self.node.delivered(self.principal.key_id, count, nbytes)
            if self._sink is not None and not self._closing:
                self.node.hub.promote(self)  # the outbox is empty: take shared batches again
            self._flushed.set()

    async def _stall(self) -> None:
        """Queued frames are dropped; the warning (unless already written), the ``stall`` error
        and a close frame go straight to the transport, past flow control (the writer may be
        blocked on a paused transport), then the connection is closed."""
        self._detach_all()
        self.outbox.drain()
        transport = transport_of(self._websocket)
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
            if drop_transport(self._websocket):
                return
            self._closing = False
        await self._close_after_flush(code, reason)

    async def _close_after_flush(self, code: int, reason: str) -> None:
        self._closing = True
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
