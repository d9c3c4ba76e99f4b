"""The Socket.IO price feed: namespace ``/api-ws`` on Engine.IO ``/socket.io/`` (python-socketio).

The wire is described in docs/dialects/socketio-feed.md and its pure parts live in
``tickcast.dialects.socketio_feed.wire.protocol``; this module is the I/O around them:

* connect: ``auth.apiKey`` is authenticated, the plan must grant the ``socketio-feed`` feature
  and the user must hold fewer than the plan's ``max_feed_connections`` (``node.connections``,
  pool ``FEED``, strict across a cluster). A refusal is a CONNECT_ERROR ``{"message": ...}``,
  after which the Engine.IO session is closed;
* going live runs in a task scheduled from the connect handler, so it goes out after
  python-socketio has queued the CONNECT acknowledgement: ``initial-prices`` is cut from the state
  keeper and queued, and, with no await in between, the connection joins the hub's
  ``ticker:<asset>`` stream of each symbol it selected (``Hub.join_live``): every update reaching
  it is newer than those prices and comes after them;
* updates flow like every dialect's: bus → ingest pipeline → hub → ``FeedEncoder`` (one
  ``price-update`` payload per update, encoded once) → the hub's shared channel of the
  selection → the connection (``endpoint/connection.py``: direct batch writes, or its
  Engine.IO queue). A plan's ``conflation_ms`` is data on the encoder: the hub's conflating
  channel (``hub/conflation.py``) sends the newest update per symbol every ``conflation_ms``;
* ``subscribe``/``unsubscribe`` leave the removed symbols' streams and join the added ones
  (``Hub.leave``/``join_live``: the hub flushes what was pending first and puts the connection
  back on its Engine.IO queue, in order with the acknowledgement).

No task per connection, no poll: slow consumers are found where their queue grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from tickcast.dialects.socketio_feed.endpoint.connection import FeedConnection
from tickcast.dialects.socketio_feed.endpoint.sessions import EioSession, FeedSession
from tickcast.dialects.socketio_feed.wire import protocol as feed
from tickcast.dialects.socketio_feed.wire.protocol import (
    NAMESPACE,
    FeedEncoder,
    MarketUpdate,
    is_message,
)
from tickcast.errors import InvalidApiKey, NotEntitled, TickcastError, Unavailable
from tickcast.model import FULL_VIEW, StreamKey, Ticker
from tickcast.server.connections import Admission
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.seam import ProtocolSink, engineio, sink_of
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")

SLOW_CONSUMER_PACKETS = 1_000
"""Engine.IO packets queued for one client beyond which it is a slow consumer: its session is
dropped, the client reconnects and starts again from ``initial-prices``. Checked each time a
packet is queued for it."""

CLOSE_TIMEOUT_S = 2.0
"""How long closing a session may wait for its queued packets to be taken by the transport."""


class SocketIOFeed:
    """The feed's python-socketio server and connections; ``mount.FeedMiddleware`` serves it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.sio = engineio.new_server()
        self.sessions = engineio.Sessions(self.sio, NAMESPACE, close_timeout=CLOSE_TIMEOUT_S)
        self.sio.on("connect", self._on_connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        self.sio.on(feed.SUBSCRIBE, self._on_subscribe, namespace=NAMESPACE)
        self.sio.on(feed.UNSUBSCRIBE, self._on_unsubscribe, namespace=NAMESPACE)
        self._connections: dict[str, FeedConnection] = {}
        """By namespace sid."""
        self._encoders: dict[int, FeedEncoder] = {}
        """By conflation_ms: connections of one policy share groups and channels."""
        self._keys = {symbol: StreamKey.parse(feed.stream_of(symbol)) for symbol in feed.SYMBOLS}
        self._tasks: set[asyncio.Task[None]] = set()
        self.lean = True
        """Serve WebSocket-only sessions under tickcast's protocol with ``lean.LeanSession``
        (False: everything through python-socketio, as the packet-comparison test does)."""

    def encoder(self, conflation_ms: int) -> FeedEncoder:
        """The encoder of a plan's conflation policy (one per distinct ``conflation_ms``)."""
        encoder = self._encoders.get(conflation_ms)
        if encoder is None:
            encoder = self._encoders[conflation_ms] = FeedEncoder(
                conflation_ms, publish_stamps=self.node.config.publish_stamps
            )
        return encoder

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to start: updates come through the hub, connections bring their own."""

    async def stop(self) -> None:
        for connection in list(self._connections.values()):
            await self.close(connection, retry=True, reason="server restart")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.sio.shutdown()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- connect and disconnect -------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        session = EioSession(self.sio, self.sessions, sid, self.sessions.eio_sid(sid))
        scope = environ.get("asgi.scope", {})
        sink = sink_of(scope) if scope.get("type") == "websocket" else None
        opened = await self.open(session, sid, auth, remote=_remote(environ), sink=sink)
        if isinstance(opened, str):
            # runs after python-socketio has queued the CONNECT_ERROR
            self.spawn(session.close_if_idle())
            raise engineio.refusal(opened) from None
        # runs after the handler returned, i.e. after python-socketio queued the CONNECT ack
        opened.joining = self.spawn(self.go_live(opened))

    async def open(
        self,
        session: FeedSession,
        sid: str,
        auth: object,
        *,
        remote: str,
        sink: ProtocolSink | None,
    ) -> FeedConnection | str:
        """Admit and register a namespace connection; or the refusal's CONNECT_ERROR message.
        The caller sends the CONNECT acknowledgement, then has it go live (``go_live``)."""
        try:
            admission = await self._admit(auth)
        except TickcastError as error:
            refusal = self.node.connections.refused(error)
            assert refusal.socketio_feed is not None
            return refusal.socketio_feed
        # one object for every equal principal: what an idle connection keeps is shared
        principal = self.node.connections.shared(admission.principal)
        connection = FeedConnection(
            owner=self,
            sid=sid,
            session=session,
            principal=principal,
            remote=remote,
            available=self._available_to(principal),
            sink=sink,
            outbox_bytes=self.node.config.outbox_bytes,
        )
        self._connections[sid] = connection
        connection.lease = admission.open(connection)
        return connection

    async def _admit(self, auth: object) -> Admission:
        """The admission of an acceptable connection (holding a feed slot); else raises a
        ``tickcast.errors`` class (server/refusals.py gives its CONNECT_ERROR message)."""
        node = self.node
        if not node.ready:
            raise Unavailable("the node is not ready")
        try:
            principal = await node.authenticate(feed.api_key_from_auth(auth))
        except Exception:
            logger.exception("feed: authentication failed with an error")
            raise TickcastError("authentication failed with an error") from None
        if principal is None:
            raise InvalidApiKey("unauthenticated")
        if not principal.plan.allows_feed(feed.FEED):
            raise NotEntitled("the plan has no Socket.IO feed")
        return await node.connections.admit_principal(
            principal, Pool.FEED, limit=principal.plan.max_feed_connections
        )

    def _available_to(self, principal: Principal) -> frozenset[str]:
        """Every symbol, or for a test key the symbols of simulated assets only."""
        if not principal.test:
            return feed.ALL_SYMBOLS
        catalog = self.node.catalog
        assets = {catalog.get(market).base for market in self.node.simulated_markets}
        return frozenset(s for s in feed.SYMBOLS if feed.asset_of(s) in assets)

    async def go_live(self, connection: FeedConnection) -> None:
        """Queue ``initial-prices`` and join the selected symbols' streams."""
        try:
            if connection.closed:
                return
            if not connection.session.is_open():
                # the client went away while the connect handler was waiting for the store
                await connection.session.drop_namespace()
                self.forget(connection)
                return
            # No await: every update reaching the connection is newer than the prices cut now,
            # and comes after them on its queue.
            updates = self._current_prices(connection.selection.available)
            frame = feed.event_frame(feed.INITIAL_PRICES, updates).encode()
            self._queue(connection, [frame])
            self._join(connection, connection.selection.symbols)
            connection.live = True
            if connection.sink is not None:
                idle = connection.idle  # one bound method for both callbacks
                connection.session.on_idle(idle)
                connection.sink.on_drain = idle
        finally:
            connection.joining = None

    def _join(self, connection: FeedConnection, symbols: Iterable[str]) -> None:
        """Join the hub's streams of ``symbols``, live from now (``Hub.join_live``)."""
        keys = [self._keys[symbol] for symbol in feed.ordered(symbols)]
        if keys:
            self.node.hub.join_live(connection, connection.encoder, keys, FULL_VIEW)

    def _leave(self, connection: FeedConnection, symbols: Iterable[str]) -> None:
        self.node.hub.leave(connection, [feed.stream_of(symbol) for symbol in symbols])

    def _current_prices(self, symbols: frozenset[str]) -> list[MarketUpdate]:
        """The MarketUpdate of each symbol with a ticker, from the state keeper."""
        updates: list[MarketUpdate] = []
        keeper = self.node.keeper
        for symbol in feed.ordered(symbols):
            snapshot = keeper.snapshot(feed.stream_of(symbol))
            if snapshot is not None and snapshot.events:
                event = snapshot.events[0]
                if isinstance(event, Ticker):
                    updates.append(feed.market_update(event))
        return updates

    async def _on_disconnect(self, sid: str, reason: object = None) -> None:
        connection = self._connections.get(sid)
        if connection is None:
            return
        self.forget(connection)
        if self.sessions.client_disconnected(reason):
            self.spawn(connection.session.end())

    def forget(self, connection: FeedConnection) -> None:
        """Release everything a connection holds (idempotent)."""
        if self._connections.pop(connection.sid, None) is None:
            return
        connection.closed = True
        self._leave(connection, feed.SYMBOLS)  # reports what its channel wrote for it
        if connection.lease is not None:
            connection.lease.end()  # unregisters, meters, gives the feed slot back

    async def close(self, connection: FeedConnection, *, retry: bool, reason: str) -> None:
        """Close a connection for the control plane or at shutdown (see FeedConnection.close)."""
        if connection.closed:
            return
        logger.info("closing %s (%s)", connection.id, reason)
        if not retry:
            await connection.session.disconnect_namespace()
        self.forget(connection)
        await connection.session.close_if_idle(drop=retry)

    # -- subscribe and unsubscribe ----------------------------------------------------------

    async def event(self, sid: str, name: str, args: list[object]) -> tuple[bool, object]:
        """A lean session's event: (handled, the acknowledgement), as the handlers below."""
        if name == feed.SUBSCRIBE:
            return True, await self._on_subscribe(sid, *args)
        if name == feed.UNSUBSCRIBE:
            return True, await self._on_unsubscribe(sid, *args)
        return False, None

    async def _on_subscribe(self, sid: str, *args: object) -> dict[str, object]:
        return await self._request(sid, args[0] if args else None, unsubscribe=False)

    async def _on_unsubscribe(self, sid: str, *args: object) -> dict[str, object]:
        return await self._request(sid, args[0] if args else None, unsubscribe=True)

    async def _request(self, sid: str, payload: object, *, unsubscribe: bool) -> dict[str, object]:
        """Apply a request; the return value is the acknowledgement (sent if asked for)."""
        connection = self._connections.get(sid)
        if connection is None:
            return feed.malformed_ack()
        if connection.joining is not None:  # the selection applies once the first join is done
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.joining)
        request = feed.parse_symbols(payload, available=connection.selection.available)
        if request is None:
            return feed.malformed_ack()
        selection = connection.selection
        if unsubscribe:
            change = selection.unsubscribe(request.known)
        else:
            change = selection.subscribe(request.known)
        if connection.live and not connection.closed:
            # leaving flushes the hub's pending frames first and puts the connection back on
            # its queue: nothing of a removed symbol follows the acknowledgement
            self._leave(connection, change.removed)
            self._join(connection, change.added)
        return feed.ack(selection, request)

    # -- delivery (called by FeedConnection.wake / overflow) --------------------------------

    def forward(self, connection: FeedConnection) -> None:
        """Hand on the frames the hub pushed into the connection's outbox (see ``flush``);
        without a tickcast transport (long-polling), into its Engine.IO queue, in order."""
        if connection.sink is not None:
            self.flush(connection)
            return
        frames = connection.outbox.drain()
        if frames:
            self._queue(connection, frames)

    def flush(self, connection: FeedConnection) -> None:
        """A WebSocket session: write what its outbox holds straight to the transport, as one
        batch, once nothing of Engine.IO's is in flight (its queue idle, no send running) and
        the transport has room; then ask the hub to make it direct again. Otherwise the frames
        wait in the outbox (bounded by its budget: a refused push is a slow consumer) for the
        next chance: a frame, the transport draining (``on_drain``) or Engine.IO's writer going
        idle (``Sessions.on_idle``)."""
        if connection.closed:
            return
        if not connection.promotable(connection.session.queue_idle()):
            return
        frames = connection.outbox.drain()
        if frames:
            connection.write_direct(frames)
        if not connection.promoting and not self.node.hub.is_direct(connection):
            connection.promoting = True  # not now: the hub may be iterating its channel
            asyncio.get_running_loop().call_soon(self._promote, connection)

    def idle(self, connection: FeedConnection) -> None:
        """Engine.IO's writer handed on all it had, or the transport drained: write what waits
        and take shared batches directly again, with no frame needed to trigger it (so a
        quiet feed never leaves a connection demoted, nor the benchmark source backed off)."""
        if connection.live and not connection.closed:
            self.flush(connection)

    def _promote(self, connection: FeedConnection) -> None:
        """Ask the hub to make the connection a direct member of its channel again, if still
        nothing of its own is in flight."""
        connection.promoting = False
        if connection.closed or len(connection.outbox):
            return
        queued = connection.session.queued()
        if queued > SLOW_CONSUMER_PACKETS:  # promoted only within its bound
            self.slow(connection, queued)
        elif connection.promotable(connection.session.queue_idle()):
            self.node.hub.promote(connection)

    def _queue(self, connection: FeedConnection, frames: list[bytes]) -> None:
        """Put frames (``42/api-ws,...``) into the connection's Engine.IO queue, now."""
        queued = 0
        for frame in frames:
            if is_message(frame):
                queued = connection.session.queue(frame[1:].decode())
                if queued < 0:  # the session is gone or closing
                    return
                connection.delivered(1, len(frame))
        if queued > SLOW_CONSUMER_PACKETS:
            self.slow(connection, queued)

    def slow(self, connection: FeedConnection, queued: int) -> None:
        """A slow consumer: drop its session (bounded memory per client; it reconnects)."""
        if connection.closed or connection.slow:
            return
        connection.slow = True
        self.node.metrics.overflows.inc(queued)
        logger.info("closing %s: slow consumer", connection.id)
        # in a task: this runs inside the hub's delivery, which must not see its channel change
        self.spawn(self.close(connection, retry=True, reason="slow consumer"))


def _remote(environ: dict[str, Any]) -> str:
    client = environ.get("asgi.scope", {}).get("client")
    return f"{client[0]}:{client[1]}" if client else "?"
