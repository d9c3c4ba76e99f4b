"""The session under one feed connection: what ``SocketIOFeed`` asks of it, whichever server
carries it.

* :class:`EioSession`: a python-socketio namespace connection on a python-engineio session
  (long-polling, upgrades, and WebSocket sessions under another ASGI server);
* ``lean.LeanSession``: tickcast's own Engine.IO v4 + Socket.IO v5 session on a detached
  WebSocket (``EIO=4&transport=websocket`` under tickcast's protocol).

Both queue a connection's own packets (``initial-prices``, acknowledgements, frames of a
demoted connection) in order with the hub's direct batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tickcast.dialects.socketio_feed.wire.protocol import NAMESPACE
from tickcast.server.seam import engineio


class FeedSession(Protocol):
    """The Engine.IO session of one feed connection."""

    def is_open(self) -> bool: ...

    def queue(self, text: str) -> int:
        """Queue one Engine.IO message now; the packets then queued, -1 if closing."""
        ...

    def queue_idle(self) -> bool: ...

    def queued(self) -> int: ...

    def on_idle(self, callback: Callable[[], None] | None) -> None: ...

    async def disconnect_namespace(self) -> None:
        """Send the namespace DISCONNECT (``41/api-ws,``)."""
        ...

    async def drop_namespace(self) -> None: ...

    async def close_if_idle(self, *, drop: bool = False) -> None: ...

    async def end(self) -> None:
        """After the client disconnected the namespace."""
        ...


class EioSession:
    """A python-socketio namespace connection (``seam.engineio.Sessions``)."""

    __slots__ = ("_eio_sid", "_sessions", "_sid", "_sio")

    def __init__(
        self, sio: engineio.FeedServer, sessions: engineio.Sessions, sid: str, eio_sid: str
    ) -> None:
        self._sio = sio
        self._sessions = sessions
        self._sid = sid
        self._eio_sid = eio_sid

    def is_open(self) -> bool:
        return self._sessions.is_open(self._eio_sid)

    def queue(self, text: str) -> int:
        return self._sessions.queue(self._eio_sid, text)

    def queue_idle(self) -> bool:
        return self._sessions.queue_idle(self._eio_sid)

    def queued(self) -> int:
        return self._sessions.queued(self._eio_sid)

    def on_idle(self, callback: Callable[[], None] | None) -> None:
        self._sessions.on_idle(self._eio_sid, callback)

    async def disconnect_namespace(self) -> None:
        await self._sio.disconnect(self._sid, namespace=NAMESPACE)

    async def drop_namespace(self) -> None:
        await self._sessions.drop_namespace(self._sid)

    async def close_if_idle(self, *, drop: bool = False) -> None:
        await self._sessions.close_if_idle(self._eio_sid, drop=drop)

    async def end(self) -> None:
        await self._sessions.end(self._eio_sid)
