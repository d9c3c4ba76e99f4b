"""The Socket.IO price feed: namespace ``/api-ws`` on Engine.IO ``/socket.io/`` (python-socketio).

The wire is described in docs/dialects/socketio-feed.md and its pure parts live in
``tickcast.dialects.socketio_feed.wire.protocol``; this module is the I/O around them:

* connect: ``auth.apiKey`` is authenticated, the plan must grant the ``socketio-feed`` feature
  and the user must hold fewer than the plan's ``max_feed_connections`` (``node.limits``,
  pool ``FEED``, strict across a cluster).
  A refusal is a CONNECT_ERROR ``{"message": ...}``, after which the Engine.IO session is closed;
* ``initial-prices`` is cut from the state keeper's tickers by a task scheduled from the connect
  handler, so it goes out after python-socketio has queued the CONNECT acknowledgement;
* updates: a bus listener keeps the newest ticker per symbol until the pump (once per loop
  pass) turns them into ``price-update`` packets, each encoded ONCE. Live connections are grouped
  by their symbol selection; for each group the pump frames the packets it wants into one
  WebSocket batch (one ``bytes`` object) and writes that same object straight to the transport
  of every *direct* member (python-socketio's per-recipient emit loop is not used). A member is
  direct only while nothing of its own is queued in Engine.IO: a new connection, one whose
  selection changed, one without a tickcast transport (long-polling) and one whose transport
  backlog passed :data:`DIRECT_BACKLOG_LIMIT` get their packets through their Engine.IO queue
  (``eio.send``, in order with acknowledgements and ``initial-prices``) until that queue is empty.
  Connections of a plan with ``conflation_ms`` > 0 keep the newest MarketUpdate per symbol
  and flush them every ``conflation_ms``.

Order on the wire: every packet of one connection is either queued in its Engine.IO queue
(``eio.send`` queues synchronously) or, once that queue and the transport's pending sends are
empty, written directly; a selection change puts the connection back on its queue first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from tickcast.delivery.channel import BACKLOG_LIMIT, websocket_text_frames
from tickcast.dialects.socketio_feed.wire import protocol as feed
from tickcast.dialects.socketio_feed.wire.protocol import NAMESPACE, MarketUpdate, Selection
from tickcast.errors import InvalidApiKey, NotEntitled, TickcastError, Unavailable
from tickcast.model import Envelope, Ticker
from tickcast.server.connections import Admission, Lease, connection_info
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.seam import ProtocolSink, engineio, sink_of
from tickcast.state.pipeline import Step
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)

ENGINEIO_PATH = "/socket.io/"

SLOW_CONSUMER_PACKETS = 1_000
"""Engine.IO packets queued for one client beyond which it is a slow consumer: its session is
closed, the client reconnects and starts again from ``initial-prices``."""

SLOW_CONSUMER_CHECK_S = 1.0
"""How often the queues are checked against :data:`SLOW_CONSUMER_PACKETS`."""

DIRECT_BACKLOG_LIMIT = BACKLOG_LIMIT
"""Transport bytes not yet taken by the kernel beyond which a direct member goes back to its
Engine.IO queue (where :data:`SLOW_CONSUMER_PACKETS` bounds it)."""

CLOSE_TIMEOUT_S = 2.0
"""How long closing a session may wait for its queued packets to be taken by the transport."""


def room_of(symbol: str) -> str:
    """The Socket.IO room of a symbol's live updates."""
    return f"price:{symbol}"


class FeedConnection:
    """One namespace connection of the feed (a ``LiveConnection`` of the node)."""

    dialect = feed.FEED

    def __init__(
        self,
        *,
        owner: SocketIOFeed,
        sid: str,
        eio_sid: str,
        principal: Principal,
        remote: str,
        available: Iterable[str],
    ) -> None:
        self.id = f"sio{next(_ids)}"
        self.sid = sid
        self.eio_sid = eio_sid
        self.principal = principal
        self.remote = remote
        self.opened_at = time.time()
        self.selection = Selection(available)
        self.conflation_s = principal.plan.conflation_ms / 1000
        self.pending: dict[str, MarketUpdate] = {}
        """Conflated plans: the newest update per symbol not sent yet."""
        self.live = False
        """Whether ``initial-prices`` went out (and, unless conflated, the rooms are joined)."""
        self.closed = False
        self.lease: Lease | None = None
        """Its hold on the node (server/connections.py), taken once it is admitted."""
        self.sink: ProtocolSink | None = None
        """The WebSocket transport, when the session uses tickcast's protocol from the start."""
        self.direct = False
        """Whether updates are written straight to ``sink`` (see the module docstring)."""
        self.group: frozenset[str] | None = None
        """The selection group this connection is a member of (non-conflated, live)."""
        self.messages = 0
        self.bytes = 0
        self._owner = owner

    @property
    def conflated(self) -> bool:
        return self.conflation_s > 0

    def count(self, messages: int, nbytes: int) -> None:
        """Meter messages handed to the transport for this connection."""
        self.messages += messages
        self.bytes += nbytes
        self._owner.node.delivered(self.principal.key_id, messages, nbytes)

    def info(self) -> dict[str, object]:
        pending = sum(len(feed.event_frame(feed.PRICE_UPDATE, u)) for u in self.pending.values())
        subscriptions = [f"ticker:{feed.asset_of(s)}" for s in feed.ordered(self.selection.symbols)]
        return connection_info(
            self,
            subscriptions=subscriptions,
            pending_bytes=pending,
            messages=self.messages,
            nbytes=self.bytes,
        )

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """``retry``: drop the transport without a close packet (clients reconnect). Otherwise
        disconnect the namespace (``41/api-ws,``: clients do not reconnect), then close the
        Engine.IO session. ``code`` has no place on this wire."""
        await self._owner.close(self, retry=retry, reason=reason)


class SocketIOFeed:
    """The feed's python-socketio server and state; :class:`FeedMiddleware` serves it."""

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
        self._groups: dict[frozenset[str], dict[FeedConnection, None]] = {}
        """Live non-conflated connections by selection: one batch per group per pass."""
        self._slow: set[FeedConnection] = set()
        """Connections taken off the direct path because their transport backlog was full."""
        self.batches_written = 0
        self._conflated: dict[str, set[FeedConnection]] = {s: set() for s in feed.SYMBOLS}
        """Conflated connections receiving each symbol."""
        self._pending: dict[str, tuple[Ticker, int]] = {}
        """Newest ticker per symbol, with its envelope's publish time."""
        self._stamps = node.config.publish_stamps
        self._stamped = 0
        """``seq`` of the last stamped update (``publish_stamps``)."""
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushers: dict[FeedConnection, asyncio.Task[None]] = {}
        self._unlisten: Callable[[], None] | None = None
        self._unpress: Callable[[], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._unlisten = self.node.pipeline.add(Step.OBSERVE, "socketio-feed", self._on_envelopes)
        self._unpress = self.node.pressure.add(self.backlogged)  # sources may back off for us
        self._spawn(self._pump_forever())
        self._spawn(self._watch_forever())

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        if self._unpress is not None:
            self._unpress()
            self._unpress = None
        for connection in list(self._connections.values()):
            await self.close(connection, retry=True, reason="server restart")
        for task in [*self._tasks, *self._flushers.values()]:
            task.cancel()
        for task in [*self._tasks, *self._flushers.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.sio.shutdown()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connect and disconnect -------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        eio_sid = self.sessions.eio_sid(sid)
        try:
            admission = await self._admit(auth)
        except TickcastError as error:
            refusal = self.node.connections.refused(error)
            assert refusal.socketio_feed is not None
            # runs after python-socketio has queued the CONNECT_ERROR
            self._spawn(self.sessions.close_if_idle(eio_sid))
            raise engineio.refusal(refusal.socketio_feed) from None
        principal = admission.principal
        connection = FeedConnection(
            owner=self,
            sid=sid,
            eio_sid=eio_sid,
            principal=principal,
            remote=_remote(environ),
            available=self._available_to(principal),
        )
        scope = environ.get("asgi.scope", {})
        if scope.get("type") == "websocket":
            connection.sink = sink_of(scope)
        self._connections[sid] = connection
        connection.lease = admission.open(connection)
        # runs after the handler returned, i.e. after python-socketio queued the CONNECT ack
        self._spawn(self._go_live(connection))

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
            return frozenset(feed.SYMBOLS)
        catalog = self.node.catalog
        assets = {catalog.get(market).base for market in self.node.simulated_markets}
        return frozenset(s for s in feed.SYMBOLS if feed.asset_of(s) in assets)

    async def _go_live(self, connection: FeedConnection) -> None:
        """Send ``initial-prices`` and start the updates (rooms, or the conflation flusher)."""
        if connection.closed:
            return
        if not self.sessions.is_open(connection.eio_sid):
            # the client went away while the connect handler was waiting for the store
            await self.sessions.drop_namespace(connection.sid)
            self._forget(connection)
            return
        # No await between joining the group and queueing initial-prices: every update reaching
        # this connection's queue is newer than the prices cut here.
        if connection.conflated:
            self._flushers[connection] = asyncio.create_task(self._flush_forever(connection))
        self._subscribe_to(connection, connection.selection.symbols)
        connection.live = True
        updates = self._current_prices(connection.selection.available)
        await self._emit_to(connection, feed.INITIAL_PRICES, updates)

    def _current_prices(self, symbols: frozenset[str]) -> list[MarketUpdate]:
        """The MarketUpdate of each symbol with a ticker, from the state keeper."""
        updates: list[MarketUpdate] = []
        keeper = self.node.keeper
        for symbol in feed.ordered(symbols):
            snapshot = keeper.snapshot(f"ticker:{feed.asset_of(symbol)}")
            if snapshot is not None and snapshot.events:
                event = snapshot.events[0]
                if isinstance(event, Ticker):
                    updates.append(feed.market_update(event))
        return updates

    async def _on_disconnect(self, sid: str, reason: object = None) -> None:
        connection = self._connections.get(sid)
        if connection is None:
            return
        self._forget(connection)
        if self.sessions.client_disconnected(reason):
            self._spawn(self.sessions.end(connection.eio_sid))

    def _forget(self, connection: FeedConnection) -> None:
        """Release everything a connection holds (idempotent)."""
        if self._connections.pop(connection.sid, None) is None:
            return
        connection.closed = True
        self._unsubscribe_from(connection, feed.SYMBOLS)
        flusher = self._flushers.pop(connection, None)
        if flusher is not None:
            flusher.cancel()
        if connection.lease is not None:
            connection.lease.end()  # unregisters, meters, gives the feed slot back

    async def close(self, connection: FeedConnection, *, retry: bool, reason: str) -> None:
        """Close a connection for the control plane or at shutdown (see FeedConnection.close)."""
        if connection.closed:
            return
        logger.info("closing %s (%s)", connection.id, reason)
        if not retry:
            await self.sio.disconnect(connection.sid, namespace=NAMESPACE)
        self._forget(connection)
        await self.sessions.close_if_idle(connection.eio_sid, drop=retry)

    # -- subscribe and unsubscribe ----------------------------------------------------------

    async def _on_subscribe(self, sid: str, *args: object) -> dict[str, object]:
        return await self._request(sid, args[0] if args else None, unsubscribe=False)

    async def _on_unsubscribe(self, sid: str, *args: object) -> dict[str, object]:
        return await self._request(sid, args[0] if args else None, unsubscribe=True)

    async def _request(self, sid: str, payload: object, *, unsubscribe: bool) -> dict[str, object]:
        """Apply a request; the return value is the acknowledgement (sent if asked for)."""
        connection = self._connections.get(sid)
        if connection is None:
            return feed.malformed_ack()
        request = feed.parse_symbols(payload, available=connection.selection.available)
        if request is None:
            return feed.malformed_ack()
        selection = connection.selection
        if unsubscribe:
            change = selection.unsubscribe(request.known)
        else:
            change = selection.subscribe(request.known)
        if connection.live:
            self._unsubscribe_from(connection, change.removed)
            self._subscribe_to(connection, change.added)
        # let the send tasks of updates emitted before the change queue their packets, so that
        # nothing of a removed symbol follows the acknowledgement
        await asyncio.sleep(0)
        return feed.ack(selection, request)

    def _subscribe_to(self, connection: FeedConnection, symbols: Iterable[str]) -> None:
        if connection.conflated:
            for symbol in symbols:
                self._conflated[symbol].add(connection)
        else:
            self._regroup(connection)

    def _unsubscribe_from(self, connection: FeedConnection, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            connection.pending.pop(symbol, None)
            self._conflated[symbol].discard(connection)
        if not connection.conflated:
            self._regroup(connection)

    def _regroup(self, connection: FeedConnection) -> None:
        """Put a connection in the group of its current selection, on its Engine.IO queue."""
        old = connection.group
        if old is not None:
            members = self._groups.get(old)
            if members is not None:
                members.pop(connection, None)
                if not members:
                    del self._groups[old]
        connection.group = None
        connection.direct = False
        self._slow.discard(connection)
        symbols = connection.selection.symbols
        if connection.closed or not symbols:
            return
        self._groups.setdefault(symbols, {})[connection] = None
        connection.group = symbols

    def backlogged(self) -> bool:
        """Whether some connection was taken off the direct path for a full transport."""
        return bool(self._slow)

    # -- updates ----------------------------------------------------------------------------

    def _on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        """Bus listener (synchronous, on the publish path): keep the newest ticker per symbol."""
        found = False
        for envelope in envelopes:
            if envelope.stream.startswith("ticker:"):
                event = envelope.event
                if isinstance(event, Ticker):
                    symbol = feed.symbol_of(event.asset)
                    if symbol is not None:
                        self._pending[symbol] = (event, envelope.published_ns)
                        found = True
        if found:
            self._wake.set()

    async def _pump_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, {}
            try:
                await self._broadcast(pending)
            except Exception:  # one bad update must not stop the feed
                logger.exception("feed: publishing %s failed", sorted(pending))

    async def _broadcast(self, pending: dict[str, tuple[Ticker, int]]) -> None:
        """One pass: encode each update once, write one batch per selection group to its
        direct members, queue the packets of the others (see the module docstring)."""
        texts: dict[str, str] = {}
        """Engine.IO message payload (``2/api-ws,[...]``) of each updated symbol."""
        for symbol in feed.ordered(pending):
            update = self._market_update(*pending[symbol])
            for connection in self._conflated[symbol]:
                connection.pending[symbol] = update
            texts[symbol] = feed.event_frame(feed.PRICE_UPDATE, update)[1:]
        queued: list[tuple[FeedConnection, list[str]]] = []
        meter = self.node.meter
        total_messages = total_bytes = 0
        for group, members in self._groups.items():
            wanted = [text for symbol, text in texts.items() if symbol in group]
            if not wanted:
                continue
            payloads = [("4" + text).encode() for text in wanted]
            count, nbytes = len(payloads), sum(len(p) for p in payloads)
            batch: bytes | None = None
            for connection in members:
                sink = connection.sink
                if sink is not None and (connection.direct or self._promote(connection, sink)):
                    if sink.backlog() <= DIRECT_BACKLOG_LIMIT:
                        if batch is None:
                            batch = websocket_text_frames(payloads)
                        sink.write(batch)
                        connection.messages += count
                        connection.bytes += nbytes
                        meter.delivered(connection.principal.key_id, count, nbytes)
                        total_messages += count
                        total_bytes += nbytes
                        continue
                    connection.direct = False
                    self._slow.add(connection)
                queued.append((connection, wanted))
            if batch is not None:
                self.batches_written += 1
        if total_messages:
            self.node.metrics.messages.inc(total_messages)
            self.node.metrics.bytes.inc(total_bytes)
        for connection, wanted in queued:  # the per-connection path: lagging or joining only
            for text in wanted:
                if connection.closed:
                    break
                with contextlib.suppress(Exception):  # the session may be gone already
                    await self.sessions.send(connection.eio_sid, text)
                    connection.count(1, len(text) + 1)

    def _market_update(self, ticker: Ticker, published_ns: int) -> feed.MarketUpdate:
        """The ticker's ``MarketUpdate``; with ``publish_stamps`` followed by the next ``seq``
        and the envelope's publish time (``feed.stamped``)."""
        update = feed.market_update(ticker)
        if self._stamps and published_ns:
            self._stamped += 1
            update = feed.stamped(update, self._stamped, published_ns)
        return update

    def _promote(self, connection: FeedConnection, sink: ProtocolSink) -> bool:
        """Take a connection onto the direct path once nothing of its own is in flight: its
        Engine.IO queue is empty (no packet taken but not yet handed on) and no send runs."""
        if not connection.live or sink.busy() or not sink.open:
            return False
        if not self.sessions.queue_idle(connection.eio_sid):
            return False
        if sink.backlog() > DIRECT_BACKLOG_LIMIT // 2:
            return False
        connection.direct = True
        self._slow.discard(connection)
        return True

    async def _flush_forever(self, connection: FeedConnection) -> None:
        """Conflated plans: every ``conflation_ms``, the newest update of each symbol."""
        while not connection.closed:
            await asyncio.sleep(connection.conflation_s)
            pending, connection.pending = connection.pending, {}
            for symbol in feed.ordered(pending):
                if symbol in connection.selection and not connection.closed:
                    try:
                        await self._emit_to(connection, feed.PRICE_UPDATE, pending[symbol])
                    except Exception:
                        logger.exception("feed: flushing %s to %s failed", symbol, connection.id)

    async def _emit_to(self, connection: FeedConnection, event: str, data: object) -> None:
        """Queue one event for one connection (synchronously: ``eio.send`` does not suspend
        before the packet is in the session's queue, unlike an emit's send task)."""
        text = feed.event_frame(event, data)
        connection.count(1, len(text))
        await self.sessions.send(connection.eio_sid, text[1:])

    async def _watch_forever(self) -> None:
        """Close the sessions of slow consumers (bounded memory per client)."""
        while True:
            await asyncio.sleep(SLOW_CONSUMER_CHECK_S)
            for connection in list(self._connections.values()):
                queued = self.sessions.queued(connection.eio_sid)
                if queued > SLOW_CONSUMER_PACKETS:
                    self.node.metrics.overflows.inc(queued)
                    logger.info("closing %s: slow consumer", connection.id)
                    self._spawn(self.close(connection, retry=True, reason="slow consumer"))


def _remote(environ: dict[str, Any]) -> str:
    client = environ.get("asgi.scope", {}).get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


class FeedMiddleware:
    """ASGI middleware: Engine.IO at ``/socket.io/`` (the feed), everything else to ``app``.

    Added with ``app.add_middleware(FeedMiddleware, socketio_feed=...)``, so that the FastAPI
    app stays the app uvicorn runs (and lifespan events still reach it). While the node is not
    ready (shutting down), Engine.IO requests get HTTP 503 or a refused WebSocket handshake:
    a transport failure, after which clients retry, where an in-band refusal would stop them.
    """

    def __init__(self, app: ASGIApp, *, socketio_feed: SocketIOFeed) -> None:
        self._node = socketio_feed.node
        self._asgi = engineio.asgi_app(socketio_feed.sio, app, ENGINEIO_PATH.strip("/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self._node.ready
            and scope["type"] in ("http", "websocket")
            and (scope["path"] + "/").startswith(ENGINEIO_PATH)
        ):
            if scope["type"] == "websocket":
                await WebSocket(scope, receive, send).close(1013, "server unavailable")
            else:
                body = {"code": 503, "message": "Server unavailable"}
                await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self._asgi(scope, receive, send)
