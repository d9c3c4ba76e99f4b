"""One Vega stream subscription, independent of its transport (WebSocket or chunked HTTP).

``admit`` checks a request the way the data-node does (path, key if required, query filters,
known ids, streams per client address) and returns a :class:`VegaStream`, or raises a class of
``tickcast.errors``: the endpoint renders it through the refusal table's Vega column
(``server/refusals.py``), the single error line to send before dropping the connection.
A stream's lines go through a byte-bounded outbox with the DISCONNECT policy, fed block by block
through :class:`~tickcast.delivery.slices.Slices`: a block bigger than the budget streams in
slices as the client reads, so only a subscriber that has not read what came before is cut
(the node's Internal "internal stream failure" line, as the data-node does when it gives up on a
slow channel).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace

from tickcast.auth.plans import Plan
from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.delivery.slices import Slices
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.wire import errors
from tickcast.dialects.vega.wire.filters import (
    Filter,
    InvalidArgument,
    Malformed,
    StreamName,
    parse,
    parse_stream_name,
)
from tickcast.dialects.vega.wire.ids import market_hex, parse_candle_id
from tickcast.errors import (
    BadParameter,
    InvalidApiKey,
    LimitExceeded,
    MalformedParameter,
    NotEntitled,
    TooManyStreams,
    Unavailable,
    UnknownStream,
)
from tickcast.hub import push_lines
from tickcast.model import StreamKind
from tickcast.server.connections import CLOSE_TIMEOUT_S, Admission, Lease, connection_info
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.seam import ProtocolSink
from tickcast.server.writer import WRITE_CHUNK, chunks, write_now
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)


PUBLIC_USER = "public"

KIND_OF: dict[StreamName, StreamKind] = {
    StreamName.TRADES: StreamKind.TRADES,
    StreamName.ORDERS: StreamKind.ORDERS,
    StreamName.POSITIONS: StreamKind.POSITIONS,
    StreamName.ACCOUNTS: StreamKind.POSITIONS,
    StreamName.MARGIN_LEVELS: StreamKind.POSITIONS,
    StreamName.LEDGER: StreamKind.POSITIONS,
    StreamName.MARKETS_DATA: StreamKind.QUOTES,
    StreamName.MARKETS_DEPTH: StreamKind.BOOK,
    StreamName.DEPTH_UPDATES: StreamKind.BOOK,
    StreamName.CANDLES: StreamKind.CANDLES,
}
"""The tickcast stream kind a plan must grant for each Vega stream (``vega_require_key``)."""


def public_principal(plan: Plan) -> Principal:
    return Principal(user=PUBLIC_USER, key_id="", plan=plan, test=False, scopes=frozenset())


class VegaStream:
    """A ``LiveConnection`` of the node and a ``BatchSubscriber`` of the feed's groups.

    Two ways to run, the same lines on the wire: **detached** (``detach_to`` a seam
    ``ProtocolSink``, tickcast's WebSocket protocol): no task, the outbox is written from a loop
    callback scheduled by ``wake`` (``server/writer.py: write_now``), client frames arrive through
    ``on_message`` (ignored: a server-streaming RPC) and the end of the stream drops TCP from a
    callback; or through the pull form ``batches`` (the chunked HTTP body, and the WebSocket
    under another ASGI server)."""

    dialect = "vega"
    __slots__ = (
        "_admission",
        "_ended_event",
        "_finish_timer",
        "_finished",
        "_lease",
        "_released",
        "_sink",
        "_wake",
        "_write_scheduled",
        "bytes",
        "ended",
        "feed",
        "host",
        "id",
        "joined",
        "messages",
        "node",
        "opened_at",
        "outbox",
        "principal",
        "remote",
        "selection",
        "slices",
    )
    """Slotted, its events made on demand: thousands of idle streams (docs/performance.md)."""

    def __init__(
        self, *, feed: VegaFeed, selection: Filter, admission: Admission, remote: str, host: str
    ) -> None:
        self.id = f"vega{next(_ids)}"
        self.feed = feed
        self.node = feed.node
        self.selection = selection
        self.principal: Principal = admission.principal
        self._admission: Admission | None = admission
        self._lease: Lease | None = None
        self.remote = remote
        self.host = host
        self.opened_at = time.time()
        self.joined = 0
        self.outbox = Outbox(
            max_bytes=self.node.config.outbox_bytes, policy=OverflowPolicy.DISCONNECT
        )
        self.slices = Slices(self.outbox, stream=selection.stream)
        """The current block's lines that wait for room in the outbox."""
        self.messages = 0
        self.bytes = 0
        self.ended = False
        """No more lines will be queued (error or close); the writer stops once drained."""
        self._ended_event: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        """The pull form's wake-up (``batches``); None while detached."""
        self._sink: ProtocolSink | None = None
        """Detached: the transport, written from loop callbacks."""
        self._write_scheduled = False
        self._finish_timer: asyncio.TimerHandle | None = None
        self._finished: asyncio.Event | None = None
        """Set by ``release``: the endpoint is done and the transport dropped."""
        self._released = False

    # -- BatchSubscriber (tickcast.hub) ------------------------------------------------------

    @property
    def key(self) -> Filter:
        return self.selection

    def wake(self) -> None:
        if self._sink is not None:
            if not self._write_scheduled:
                self._write_scheduled = True
                asyncio.get_running_loop().call_soon(self._write_now)
        else:
            self._wake_event().set()

    def overflow(self) -> None:
        """It has not read what came before and the next block does not fit: cut."""
        self.node.metrics.overflows.inc()
        logger.info("vega stream %s: slow consumer, dropped", self.id)
        self.end(errors.stream_failure())

    def on_block(self, lines: list[bytes]) -> None:
        """A closed block's lines for this stream (what ``BatchGroups.deliver`` hands it)."""
        if not self.ended:
            push_lines(self, lines)

    # -- LiveConnection ----------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        return connection_info(
            self,
            subscriptions=[f"vega:{self.selection.stream.value}"],
            pending_bytes=self.slices.unread_bytes,
            messages=self.messages,
            nbytes=self.bytes,
        )

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """Server shutdown or an operator's disconnect: the node's Internal stream failure line,
        then the connection is dropped (clients such as the vendor sample reconnect)."""
        self.end(errors.stream_failure())
        if self._released:
            return
        if self._finished is None:
            self._finished = asyncio.Event()
        try:
            # until the endpoint has flushed the line and dropped TCP itself, before uvicorn's
            # own shutdown would send a close frame
            await asyncio.wait_for(self._finished.wait(), timeout=2 * CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.info("vega stream %s: not flushed in time", self.id)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Register with the feed and the node; queue the snapshot pages."""
        assert self._admission is not None
        self._lease = self._admission.open(self)
        self._admission = None  # the lease holds the slot now
        for line in self.feed.subscribe(self):
            self.outbox.push_control(line)
        self.wake()

    def end(self, line: bytes | None = None) -> None:
        """Stop queueing updates; ``line`` (an error) is the last thing sent."""
        if self.ended:
            return
        self.ended = True
        if self._ended_event is not None:
            self._ended_event.set()
        self.feed.unsubscribe(self)
        self.slices.clear()
        if line is not None:
            self.outbox.push_control(line)
        if self._sink is not None and not self._released:
            # the last line gets a moment to go out; a client that does not read is dropped
            loop = asyncio.get_running_loop()
            self._finish_timer = loop.call_later(CLOSE_TIMEOUT_S, self._finish)
        self.wake()

    @property
    def ended_event(self) -> asyncio.Event:
        """Set once the stream ended (the task-based WebSocket endpoint waits for it)."""
        if self._ended_event is None:
            self._ended_event = asyncio.Event()
            if self.ended:
                self._ended_event.set()
        return self._ended_event

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self.end()
        timer, self._finish_timer = self._finish_timer, None
        if timer is not None:
            timer.cancel()
        if self._lease is not None:
            self._lease.end()  # unregisters, meters, gives the user's slot back
        elif self._admission is not None:
            self._admission.cancel()
        self._admission = None
        self.feed.addresses.release(self.host)
        if self._finished is not None:
            self._finished.set()

    def batches(self) -> AsyncIterator[list[bytes]]:
        """Queued lines in batches, until the stream ended and everything was handed over
        (the one outbox writer's pull form, ``server/writer.py``)."""
        return chunks(self, self._wake_event(), lambda: self.ended)

    def _wake_event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._wake.set()  # whatever is queued already goes out
        return self._wake

    # -- detached (tickcast's WebSocket protocol: no task per stream) ----------------------------

    @property
    def detached(self) -> bool:
        """Runs on the protocol's callbacks (no task)."""
        return self._sink is not None

    def detach_to(self, sink: ProtocolSink) -> None:
        """Write to ``sink`` from loop callbacks (before ``start``)."""
        self._sink = sink

    def on_message(self, data: str | bytes) -> None:
        """Client frames are ignored (server-streaming RPC); pings and closes are the
        protocol's."""

    def on_disconnect(self) -> None:
        """The client went away or closed: the stream ends and gives everything back."""
        self.release()

    def _write_now(self) -> None:
        self._write_scheduled = False
        sink = self._sink
        if sink is None or self._released:
            return
        try:
            write_now(self, sink, sink.framing)
        except OSError:  # the peer went away while writing
            logger.debug("vega stream %s: peer gone", self.id)
            self._finish()

    def _finish(self) -> None:
        """Everything queued went out (or the client did not read it in time): FIN without a
        close frame, as the data-node does; then release."""
        sink = self._sink
        if sink is not None:
            sink.drop()
        self.release()

    # -- Drained (server/writer.py) ------------------------------------------------------------

    def take(self) -> list[bytes]:
        return self.outbox.drain(WRITE_CHUNK)

    def wrote(self, frames: list[bytes]) -> None:
        count = len(frames)
        nbytes = sum(len(frame) for frame in frames)
        self.messages += count
        self.bytes += nbytes
        self.node.delivered(self.principal.key_id, count, nbytes)
        self.slices.refill()  # the next slice of a big block, now that there is room

    def emptied(self) -> None:
        if self.ended and self._sink is not None and not self._released:
            self._finish()


def _plan_markets(node: Node, plan: Plan, selection: Filter) -> Filter:
    """Limit a keyed stream to the markets its plan grants; NotEntitled if it names others."""
    feed_markets = {market_hex(m.id): m.id for m in node.catalog}
    wanted = set(selection.markets)
    if selection.candle_id:
        parsed = parse_candle_id(selection.candle_id)
        if parsed is not None:
            wanted.add(parsed[1])
    denied = [hex_id for hex_id in wanted if not plan.allows_market(feed_markets[hex_id])]
    if denied:
        raise NotEntitled("the plan does not grant these markets")
    if not wanted and "*" not in plan.markets:
        allowed = frozenset(h for h, m in feed_markets.items() if plan.allows_market(m))
        return replace(selection, markets=allowed)
    return selection


async def _principal(
    node: Node, stream: StreamName, headers: Mapping[str, str], query: Sequence[tuple[str, str]]
) -> Principal:
    """The public principal, or with ``vega_require_key`` the key's (which must grant the kind)."""
    if not node.config.vega_require_key:
        return public_principal(node.plans["admin"])
    principal = await node.authenticate(api_key_from(headers, dict(query)))
    if principal is None:
        raise InvalidApiKey("unauthenticated")
    if not principal.plan.allows_kind(KIND_OF[stream]):
        raise NotEntitled("the plan does not grant this stream")
    return principal


def _selection(feed: VegaFeed, stream: StreamName, query: Sequence[tuple[str, str]]) -> Filter:
    try:
        selection = parse(stream, query)
    except Malformed as error:
        raise MalformedParameter(str(error)) from None
    except InvalidArgument as error:
        raise BadParameter(error.message, inner=error.inner) from None
    unknown = feed.state.unknown_id(selection)
    if unknown is not None:
        raise unknown
    return selection


async def admit(
    feed: VegaFeed,
    *,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    host: str,
    remote: str,
) -> VegaStream:
    """A stream for the request, or a ``tickcast.errors`` class (the refusal table's Vega
    column gives its line)."""
    node = feed.node
    stream = parse_stream_name(path)
    if stream is None:
        raise UnknownStream("no such stream path")
    if not node.ready:
        raise Unavailable("the node is not ready")
    principal = await _principal(node, stream, headers, query)
    selection = _selection(feed, stream, query)
    if node.config.vega_require_key:
        selection = _plan_markets(node, principal.plan, selection)
    if not feed.addresses.try_acquire(host, feed.max_streams_per_address):
        raise TooManyStreams("too many streams from this address")
    try:
        # the public principal (no key needed) is counted without a cap
        limit = 0 if principal.user == PUBLIC_USER else None
        admission = await node.connections.admit_principal(principal, Pool.STREAMS, limit=limit)
    except LimitExceeded:
        feed.addresses.release(host)
        raise
    return VegaStream(feed=feed, selection=selection, admission=admission, remote=remote, host=host)
