"""A lean Engine.IO v4 + Socket.IO v5 session for the feed, on a detached WebSocket
(docs/dialects/socketio-feed.md).

A client that opens ``/socket.io/?EIO=4&transport=websocket`` (no polling, no upgrade: what bots
and the harness do) under tickcast's WebSocket protocol is served here instead of by
python-engineio/python-socketio: the connection is detached (``seam.detach``) like a native
one, and its whole session is one :class:`LeanSession` (the ``FeedSession`` of its feed
connection and the detached handler of its WebSocket). The packets are python-socketio's, byte
for byte (``seam.engineio``'s ``open_packet``, ``encode_packet``, ``decode_packet``); the
server's Engine.IO pings go out from ONE shared pinger per event loop
(``seam.lean.Keepalive``); a client message is handled in a short task only while messages
wait. An idle session owns no task and no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from tickcast.dialects.socketio_feed.endpoint.connection import FeedConnection
from tickcast.dialects.socketio_feed.wire.protocol import NAMESPACE
from tickcast.server.seam import ProtocolSink, detach, engineio, frame_batch, sink_of
from tickcast.server.seam.lean import Keepalive, keepalive_for

if TYPE_CHECKING:
    from tickcast.dialects.socketio_feed.endpoint.feed import SocketIOFeed

logger = logging.getLogger("tickcast.server")

CONNECT, DISCONNECT, EVENT, CONNECT_ERROR = 0, 1, 2, 4


def wants_lean(scope: Scope, path: str) -> bool:
    """A WebSocket-only Engine.IO v4 session at ``path`` under tickcast's WebSocket protocol."""
    if scope["type"] != "websocket" or scope["path"] != path or sink_of(scope) is None:
        return False
    query = dict(
        part.partition("=")[::2] for part in scope.get("query_string", b"").decode().split("&")
    )
    return query.get("EIO") == "4" and query.get("transport") == "websocket" and "sid" not in query


async def serve_lean(feed: SocketIOFeed, scope: Scope, receive: Receive, send: Send) -> None:
    """Accept the WebSocket, send the OPEN packet and detach the connection to a session."""
    sink = sink_of(scope)
    assert sink is not None
    websocket = WebSocket(scope, receive, send)
    await websocket.accept()
    client = scope.get("client")
    remote = f"{client[0]}:{client[1]}" if client else "?"
    session = LeanSession(feed, sink, remote)
    session.send(engineio.open_packet(feed.sio, session.eio_sid))
    session.pinger.add(session)
    await detach(websocket, session)


class LeanSession:
    """One WebSocket-only Engine.IO session and its namespaces (see the module docstring)."""

    __slots__ = (
        "_feed",
        "_inbox",
        "_root",
        "closed",
        "connection",
        "eio_sid",
        "last_ping",
        "ping_sent_at",
        "pinger",
        "remote",
        "sink",
    )

    def __init__(self, feed: SocketIOFeed, sink: ProtocolSink, remote: str) -> None:
        self._feed = feed
        self.sink = sink
        self.remote = remote
        self.eio_sid = engineio.new_sid(feed.sio)
        self.connection: FeedConnection | None = None
        """The feed's namespace connection, once connected."""
        self._root: str | None = None
        """The sid of the root namespace ``/``, when the client connected it."""
        self._inbox: deque[str] | None = None
        """Socket.IO packets waiting to be handled (None while none wait)."""
        self.closed = False
        interval, timeout, _ = engineio.ping_settings(feed.sio)
        self.pinger: Keepalive = keepalive_for(interval, timeout, kind="engine.io")
        self.ping_sent_at = 0.0
        self.last_ping = self.pinger.now()

    # -- writing ----------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Write one Engine.IO packet now; False if the session is closed."""
        if self.closed or not self.sink.open:
            return False
        self.sink.write(frame_batch([text.encode()]))
        return True

    # -- the detached handler (seam.DetachedHandler) ----------------------------------------

    def on_message(self, data: str | bytes) -> None:
        if self.closed:
            return
        if isinstance(data, bytes) or not data:
            logger.warning("feed: binary or empty Engine.IO message from %s dropped", self.remote)
            return
        kind = data[0]
        if kind == "3":  # PONG
            self.ping_sent_at = 0.0
        elif kind == "4":  # MESSAGE: a Socket.IO packet
            if self._inbox is None:
                self._inbox = deque()
                self._feed.spawn(self._handle())
            self._inbox.append(data[1:])
        elif kind == "1":  # CLOSE: like python-engineio, nothing is sent back
            self._ended()
        elif kind == "5":  # UPGRADE: python-engineio answers NOOP
            self.send("6")

    def on_disconnect(self) -> None:
        self._ended()

    def _ended(self) -> None:
        """The client closed the session or the transport is gone."""
        self.closed = True
        self.pinger.discard(self)
        connection, self.connection = self.connection, None
        if connection is not None:
            self._feed.forget(connection)

    # -- the shared pinger (seam.lean.Keepalive) --------------------------------------------

    def ping(self, now: float) -> None:
        self.ping_sent_at = now
        self.last_ping = now
        self.send("2")

    def fail(self, code: int, reason: str) -> None:
        """No PONG within the ping timeout: close the WebSocket (1000) without a CLOSE packet,
        as python-engineio's reader does when the client has been silent that long."""
        if not self.closed:
            self._feed.spawn(self._close(drop=True))

    # -- Socket.IO packets ------------------------------------------------------------------

    async def _handle(self) -> None:
        """Handle the waiting packets in order, then end (no task while idle)."""
        inbox = self._inbox
        try:
            while inbox and not self.closed:
                packet = engineio.decode_packet(inbox.popleft())
                if packet is not None:
                    await self._packet(*packet)
        finally:
            self._inbox = None
        if self.connection is not None and not self.closed:
            # what Engine.IO's writer going idle does: write what waits and take shared
            # batches directly again (a selection change left the connection demoted)
            self.connection.idle()

    async def _packet(self, kind: int, namespace: str, data: object, ack: int | None) -> None:
        if kind == CONNECT:
            await self._connect(namespace, data)
        elif kind == DISCONNECT:
            await self._disconnect(namespace)
        elif kind == EVENT and namespace == NAMESPACE and self.connection is not None:
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                return
            handled, result = await self._feed.event(self.connection.sid, data[0], data[1:])
            if handled and ack is not None:
                args = [] if result is None else [result]
                self.send("4" + engineio.encode_packet(3, namespace, args, ack))

    async def _connect(self, namespace: str, auth: object) -> None:
        feed = self._feed
        if namespace == "/":
            if self._root is None:
                self._root = engineio.new_sid(feed.sio)
            self.send("4" + engineio.encode_packet(CONNECT, "/", {"sid": self._root}))
            return
        if namespace != NAMESPACE:
            self.send("4" + engineio.encode_packet(CONNECT_ERROR, namespace, "Unable to connect"))
            return
        if self.connection is not None:
            return
        sid = engineio.new_sid(feed.sio)
        opened = await feed.open(self, sid, auth or None, remote=self.remote, sink=self.sink)
        if isinstance(opened, str):
            self.send("4" + engineio.encode_packet(CONNECT_ERROR, namespace, {"message": opened}))
            await self.close_if_idle()
            return
        if self.closed:  # gone while the store answered
            feed.forget(opened)
            return
        self.connection = opened
        self.send("4" + engineio.encode_packet(CONNECT, namespace, {"sid": sid}))
        await feed.go_live(opened)

    async def _disconnect(self, namespace: str) -> None:
        if namespace == "/":
            self._root = None
            return
        connection = self.connection
        if namespace == NAMESPACE and connection is not None:
            self.connection = None
            self._feed.forget(connection)
            await self.end()

    # -- FeedSession ------------------------------------------------------------------------

    def is_open(self) -> bool:
        return not self.closed and self.sink.open

    def queue(self, text: str) -> int:
        """Written at once (in order with the direct batches): nothing stays queued."""
        return 0 if self.send("4" + text) else -1

    def queue_idle(self) -> bool:
        return True

    def queued(self) -> int:
        return 0

    def on_idle(self, callback: Callable[[], None] | None) -> None:
        """Nothing of the session's own is ever in flight: the sink's ``on_drain`` suffices."""

    async def disconnect_namespace(self) -> None:
        if self.send("4" + engineio.encode_packet(DISCONNECT, NAMESPACE, None)):
            self.connection = None

    async def drop_namespace(self) -> None:
        self.connection = None

    async def close_if_idle(self, *, drop: bool = False) -> None:
        if self._root is None:
            await self._close(drop=drop)

    async def end(self) -> None:
        await self.close_if_idle()

    async def _close(self, *, drop: bool) -> None:
        """Close the session: the CONNECT packet ``1`` first unless ``drop``, then the
        WebSocket (1000), as python-engineio's writer does."""
        if self.closed:
            return
        if not drop:
            self.send("1")
        self._ended()
        with contextlib.suppress(Exception):
            await asyncio.shield(self.sink.close(1000, ""))
