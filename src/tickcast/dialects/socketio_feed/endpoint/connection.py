"""One Socket.IO feed connection as a subscriber of the hub (docs/dialects/socketio-feed.md).

A :class:`FeedConnection` is a ``SharedSubscriber`` of the hub, like a native connection: once
live, it is a member of the hub's shared channel of its selection (one ``ticker:<asset>`` group
per symbol, encoded once per update by ``wire.protocol.FeedEncoder``), and the channel
writes ONE batch per loop pass straight to the transport of every *direct* member. Engine.IO's
own queue carries the CONNECT acknowledgement, ``initial-prices``, the acknowledgements and
pings. While a connection is not direct (joining, selection changed, transport backlog over the
limit), the hub pushes its frames into its outbox and calls :meth:`FeedConnection.wake`:

* with a tickcast WebSocket transport, ``SocketIOFeed.flush`` writes the outbox as one batch
  once nothing of Engine.IO's is in flight (its queue idle, no ASGI send running) and the
  transport has room, then asks the hub to promote it; until then the frames wait in the outbox
  (its byte budget bounds a slow reader: a refused push drops the session) and the next chance
  comes with a frame, the transport draining or Engine.IO's writer going idle;
* without one (long-polling), the frames go at once, in order, into the Engine.IO queue
  (``seam.engineio.Sessions.queue``); more than ``SLOW_CONSUMER_PACKETS`` queued drops the
  session. Both bounds are checked where the backlog grows: no poll.

An idle connection owns no task and no timer: its state is this object, its (empty) outbox and
its hub memberships.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tickcast.delivery.channel import BACKLOG_LIMIT, websocket_text_frames
from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.dialects.socketio_feed.wire import protocol as feed
from tickcast.dialects.socketio_feed.wire.protocol import Selection, is_message
from tickcast.server.connections import Lease, connection_info
from tickcast.server.seam import ProtocolSink
from tickcast.storage.base import Principal

if TYPE_CHECKING:
    from tickcast.dialects.socketio_feed.endpoint.feed import SocketIOFeed
    from tickcast.dialects.socketio_feed.endpoint.sessions import FeedSession

_ids = itertools.count(1)

DIRECT_BACKLOG_LIMIT = BACKLOG_LIMIT
"""Transport bytes not yet taken by the kernel above which a connection is not written to
directly (the hub's channel demotes a direct member over it; it is promoted under half)."""


class QueueOnly:
    """The sink of a session without a tickcast WebSocket transport (long-polling): it is never
    direct, so the hub's channel pushes its frames into the outbox (and so the Engine.IO queue)."""

    __slots__ = ()

    framing = staticmethod(websocket_text_frames)

    def write(self, data: bytes) -> None:
        raise RuntimeError("a queue-only sink is never written to")

    def backlog(self) -> int:
        return 1 << 62


QUEUE_ONLY = QueueOnly()


class FeedConnection:
    """One namespace connection of the feed (a ``LiveConnection`` of the node and a
    ``SharedSubscriber`` of the hub)."""

    __slots__ = (
        "_owner",
        "bytes",
        "closed",
        "encoder",
        "id",
        "joining",
        "lease",
        "live",
        "messages",
        "opened_at",
        "outbox",
        "principal",
        "promoting",
        "remote",
        "selection",
        "session",
        "sid",
        "sink",
        "slow",
    )

    dialect = feed.FEED

    def __init__(
        self,
        *,
        owner: SocketIOFeed,
        sid: str,
        session: FeedSession,
        principal: Principal,
        remote: str,
        available: Iterable[str],
        sink: ProtocolSink | None,
        outbox_bytes: int,
    ) -> None:
        self.id = f"sio{next(_ids)}"
        self.sid = sid
        self.session = session
        """Its Engine.IO session (python-socketio's, or a lean one)."""
        self.principal = principal
        self.remote = remote
        self.opened_at = time.time()
        self.selection = Selection(available)
        self.encoder = owner.encoder(principal.plan.conflation_ms)
        self.outbox = Outbox(max_bytes=outbox_bytes, policy=OverflowPolicy.DISCONNECT)
        self.sink = sink
        """The WebSocket transport, when the session uses tickcast's protocol from the start."""
        self.live = False
        """Whether ``initial-prices`` went out (and the symbols' streams are joined)."""
        self.joining: asyncio.Task[None] | None = None
        """The task sending ``initial-prices`` and joining the streams, until it is done."""
        self.closed = False
        self.promoting = False
        """A promotion is scheduled (``SocketIOFeed.forward``)."""
        self.slow = False
        """Found to be a slow consumer: its close is under way."""
        self.lease: Lease | None = None
        """Its hold on the node (server/connections.py), taken once it is admitted."""
        self.messages = 0
        self.bytes = 0
        self._owner = owner

    # -- Subscriber protocol (called by the hub) --------------------------------------------

    def wake(self) -> None:
        """Frames are in the outbox: hand them on now (see the module docstring)."""
        if not self.closed:
            self._owner.forward(self)

    def overflow(self) -> None:
        """The outbox refused a frame (it never holds more than one pass): a slow consumer."""
        self._owner.slow(self, len(self.outbox))

    def direct_sink(self) -> ProtocolSink | QueueOnly:
        return self.sink if self.sink is not None else QUEUE_ONLY

    def idle(self) -> None:
        """Its Engine.IO writer waits on an empty queue (``Sessions.on_idle``) or its transport
        drained (``ProtocolSink.on_drain``)."""
        self._owner.idle(self)

    @property
    def direct(self) -> bool:
        """Whether the hub's channel writes its shared batches straight to this connection."""
        return self._owner.node.hub.is_direct(self)

    def delivered(self, messages: int, nbytes: int) -> None:
        """Frames handed to the transport for this connection (metered)."""
        self.messages += messages
        self.bytes += nbytes
        if self.lease is not None:
            self.lease.delivered(messages, nbytes)

    # -- LiveConnection protocol (the control plane) ----------------------------------------

    def info(self) -> dict[str, object]:
        self._owner.node.hub.settle(self)
        subscriptions = [feed.stream_of(s) for s in feed.ordered(self.selection.symbols)]
        return connection_info(
            self,
            subscriptions=subscriptions,
            pending_bytes=self.outbox.pending_bytes,
            messages=self.messages,
            nbytes=self.bytes,
        )

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """``retry``: drop the transport without a close packet (clients reconnect). Otherwise
        disconnect the namespace (``41/api-ws,``: clients do not reconnect), then close the
        Engine.IO session. ``code`` has no place on this wire."""
        await self._owner.close(self, retry=retry, reason=reason)

    # -- writing ----------------------------------------------------------------------------

    def promotable(self, queue_idle: bool) -> bool:
        """Whether frames may be written straight to the transport: nothing of the
        connection's own is in flight (``queue_idle``: its Engine.IO queue is empty and no packet
        taken from it is still being written) and the transport has room."""
        sink = self.sink
        return (
            sink is not None
            and queue_idle
            and sink.open
            and not sink.busy()
            and sink.backlog() <= DIRECT_BACKLOG_LIMIT // 2
        )

    def write_direct(self, frames: list[bytes]) -> None:
        """Write frames straight to the transport, as one batch (``promotable`` held)."""
        assert self.sink is not None
        payloads = [frame for frame in frames if is_message(frame)]
        if payloads:
            self.sink.write(websocket_text_frames(payloads))
            self.delivered(len(payloads), sum(len(p) for p in payloads))
