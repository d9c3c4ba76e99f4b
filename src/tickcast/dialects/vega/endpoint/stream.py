"""One Vega stream subscription, independent of its transport (WebSocket or chunked HTTP).

A stream is admitted by ``endpoint/admit.py``. Its lines go through a byte-bounded outbox with
the DISCONNECT policy, fed block by block through :class:`~tickcast.delivery.slices.Slices`: a
block bigger than the budget streams in slices as the client reads, so only a subscriber that
has not read what came before is cut (the node's Internal "internal stream failure" line, as
the data-node does when it gives up on a slow channel). A detached stream whose transport took
everything before gets a block's shared chunks written at once (``write_batch``), with no outbox
entry; what its transport still holds then counts as unread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import cast

from tickcast.auth.plans import Plan
from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.delivery.slices import Slices
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.framing import Chunk, Framed, chunk, chunks_of
from tickcast.dialects.vega.wire import errors
from tickcast.dialects.vega.wire.filters import (
    Filter,
)
from tickcast.hub import push_lines
from tickcast.server.connections import CLOSE_TIMEOUT_S, Admission, Lease, connection_info
from tickcast.server.seam import ProtocolSink
from tickcast.server.writer import WRITE_CHUNK, chunks, write_now
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)


PUBLIC_USER = "public"


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
        "_framed",
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
        self._framed: Framed | None = None
        """Detached: the group key under which its lines come framed (``endpoint/framing``)."""
        self._write_scheduled = False
        self._finish_timer: asyncio.TimerHandle | None = None
        self._finished: asyncio.Event | None = None
        """Set by ``release``: the endpoint is done and the transport dropped."""
        self._released = False

    # -- BatchSubscriber (tickcast.hub) ------------------------------------------------------

    @property
    def key(self) -> Filter | Framed:
        return self._framed or self.selection

    def wake(self) -> None:
        if self._sink is not None:
            if self._released:
                return
            self.feed.lagging.add(self)  # until its outbox is empty (``emptied``)
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
            framed = self._framed is not None
            push_lines(self, chunks_of(lines, self.feed.chunk_size) if framed else lines)

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
            self._push_control(line)
        self.wake()

    def _push_control(self, line: bytes) -> None:
        self.outbox.push_control(chunk([line]) if self._framed is not None else line)

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
            self._push_control(line)
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
        self.feed.lagging.discard(self)
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
        """Write to ``sink`` from loop callbacks (before ``start``); take lines framed, a
        block straight to the transport when everything before was taken (``write_batch``)."""
        self._sink = sink
        self._framed = Framed(self.selection)
        self.slices.direct = self
        self.slices.idle_below = WRITE_CHUNK

    def unsent(self) -> int:
        """Bytes the transport holds that the kernel has not taken (``Slices``' unread)."""
        sink = self._sink
        if sink is None or self._released or not sink.open:
            return 0
        return sink.backlog()

    def write_batch(self, lines: Sequence[bytes]) -> bool:
        """A block's framed chunks, shared by the group, written at once in one C-level loop
        over the transport's ``write`` (no outbox entry, no Python frame per chunk); metered
        here. False (queue it instead) unless detached, open and still subscribed."""
        sink = self._sink
        if sink is None or self._released or self.ended or not sink.open:
            return False
        framed = cast(Sequence[Chunk], lines)
        try:
            deque(map(sink.raw_write, framed), maxlen=0)
        except (OSError, RuntimeError):  # the peer went away while writing
            logger.debug("vega stream %s: peer gone", self.id)
            self._finish()
            return True
        messages, nbytes = sum(c.lines for c in framed), sum(c.payload for c in framed)
        self.messages += messages
        self.bytes += nbytes
        self.node.delivered(self.principal.key_id, messages, nbytes)
        return True

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
        messages, nbytes = self.messages, self.bytes
        try:
            write_now(self, sink, _framed_already)
        except OSError:  # the peer went away while writing
            logger.debug("vega stream %s: peer gone", self.id)
            self._finish()
        finally:  # metered once per pass, not once per chunk
            if self.messages != messages:
                delivered = self.messages - messages, self.bytes - nbytes
                self.node.delivered(self.principal.key_id, *delivered)

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
        if self._framed is not None:
            framed = cast(list[Chunk], frames)
            self.messages += sum(frame.lines for frame in framed)
            self.bytes += sum(frame.payload for frame in framed)  # metered by ``_write_now``
        else:
            count = len(frames)
            nbytes = sum(len(frame) for frame in frames)
            self.messages += count
            self.bytes += nbytes
            self.node.delivered(self.principal.key_id, count, nbytes)
        self.slices.refill()  # the next slice of a big block, now that there is room

    def emptied(self) -> None:
        if self.unsent() > WRITE_CHUNK:  # a block written whole (``write_batch``) is going out
            sink = self._sink
            assert sink is not None
            sink.on_drain = self.wake  # lagging until the transport took it (resume_writing)
            return
        self.feed.lagging.discard(self)
        if self.ended and self._sink is not None and not self._released:
            self._finish()


def _framed_already(chunks: Sequence[bytes]) -> bytes:
    """A detached stream's outbox holds framed chunks: one goes as it is (no copy)."""
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
