"""python-socketio and python-engineio, for the Socket.IO price feed: every use of their
internals is here (the feed itself calls only this module and their public ``on``,
``disconnect`` and ``shutdown``).

Internals relied on (pinned by tests/unit/server/seam/test_contract.py):

* ``AsyncServer._handle_eio_message(eio_sid, data)``, ``_binary_packet``, ``packet_class``:
  the hook where a malformed client packet is turned into one WARNING line;
* ``manager.eio_sid_from_sid``, ``sid_from_eio_sid``, ``get_namespaces`` and
  ``disconnect(sid, namespace, ignore_queue=True)``;
* ``eio.sockets[eio_sid]`` with ``closed``, ``closing``, ``upgraded``, ``close(wait, abort,
  reason)`` and its ``queue`` (an ``asyncio.Queue``: ``qsize``, ``put_nowait(None)`` ends the
  writer, ``_unfinished_tasks`` counts packets taken but not yet handed on);
* ``eio.disconnect(eio_sid)``; ``eio.reason.CLIENT_DISCONNECT`` / ``SERVER_DISCONNECT``;
* ``eio.create_queue`` (called by ``BaseSocket.__init__`` for each session's queue) and the
  session writer's ``queue.get()`` on an empty queue once it has sent what it took
  (:class:`IdleQueue`);
* ``eio.generate_id``, ``ping_interval``, ``ping_timeout``, ``ping_interval_grace_period``,
  ``max_http_buffer_size``, ``engineio.packet.Packet(OPEN, ...)`` and ``socketio.packet.Packet``
  (encode and decode): the lean session's wire (``open_packet``, ``encode_packet``,
  ``decode_packet``), the same bytes as python-socketio's;
* ``engineio.packet.Packet(MESSAGE, data=text)`` put with ``queue.put_nowait``: what
  ``eio.send`` queues, without its coroutine (``Sessions.queue``: the feed queues from the hub's
  synchronous delivery; the session's ping task still detects a dead client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from starlette.types import ASGIApp

logger = logging.getLogger("tickcast.server")

_HANDLED_PACKETS = frozenset({0, 1, 2, 3, 5, 6})
"""CONNECT, DISCONNECT, EVENT, ACK, BINARY_EVENT, BINARY_ACK: what a client may send."""


class FeedServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, but a malformed client packet is one WARNING line (python-
    socketio logs two tracebacks and answers nothing): a CONNECT whose auth payload is not JSON
    is handled as a CONNECT without a key (refused: "Authentication failed", then the session
    closes); any other undecodable or unexpected packet is dropped."""

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        if isinstance(data, str) and eio_sid not in self._binary_packet:
            try:
                kind = self.packet_class(encoded_packet=data).packet_type
            except ValueError as error:
                if not data.startswith("0"):
                    _malformed(eio_sid, data, str(error))
                    return
                logger.warning("feed: CONNECT with an undecodable payload from %s", eio_sid)
                data = "0" + data[1:].partition(",")[0] + ("," if "," in data else "")
            else:
                if kind not in _HANDLED_PACKETS:
                    _malformed(eio_sid, data, f"unexpected packet type {kind}")
                    return
        await super()._handle_eio_message(eio_sid, data)


def _malformed(eio_sid: str, data: str, why: str) -> None:
    logger.warning("feed: malformed packet from %s dropped (%s): %.80r", eio_sid, why, data)


class IdleQueue(asyncio.Queue):  # type: ignore[type-arg]
    """An Engine.IO session's packet queue that tells when the session's writer has handed on
    everything it took and waits on the empty queue (``on_idle``): the one moment another
    writer may write to the transport without overtaking Engine.IO's packets. Installed as the
    engine.io server's ``create_queue`` (``BaseSocket.__init__`` calls it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_idle: Callable[[], None] | None = None
        """Set here, not later: the instance dict then never grows (~0.5 KB per session)."""

    async def get(self) -> Any:
        if self.on_idle is not None and self.empty():
            self.on_idle()
        return await super().get()


def new_server() -> FeedServer:
    """The feed's server. ``async_handlers=False``: a client's events are handled in the
    order it sent them."""
    server = FeedServer(async_mode="asgi", async_handlers=False, cors_allowed_origins="*")
    server.eio.create_queue = IdleQueue
    return server


def refusal(message: str) -> Exception:
    """Raise it from a connect handler: the client gets CONNECT_ERROR with ``message``."""
    error: Exception = socketio.exceptions.ConnectionRefusedError(message)
    return error


def asgi_app(sio: FeedServer, other: ASGIApp, path: str) -> ASGIApp:
    """Engine.IO at ``/<path>/``, every other request to ``other``."""
    app: ASGIApp = socketio.ASGIApp(sio, other_asgi_app=other, socketio_path=path)
    return app


class Sessions:
    """The Engine.IO sessions under one namespace of ``sio``."""

    def __init__(self, sio: FeedServer, namespace: str, *, close_timeout: float) -> None:
        self._sio = sio
        self._namespace = namespace
        self._close_timeout = close_timeout

    def _socket(self, eio_sid: str) -> Any:
        return self._sio.eio.sockets.get(eio_sid)

    def eio_sid(self, sid: str) -> str:
        """The Engine.IO session of a namespace connection."""
        eio_sid: str = self._sio.manager.eio_sid_from_sid(sid, self._namespace)
        return eio_sid

    def is_open(self, eio_sid: str) -> bool:
        socket_ = self._socket(eio_sid)
        return socket_ is not None and not socket_.closed and not socket_.closing

    def queue_idle(self, eio_sid: str) -> bool:
        """The session exists and no packet was taken from its queue but not yet handed on."""
        socket_ = self._socket(eio_sid)
        return socket_ is not None and getattr(socket_.queue, "_unfinished_tasks", 1) == 0

    def queued(self, eio_sid: str) -> int:
        """Packets waiting in the session's queue (0 without a session)."""
        socket_ = self._socket(eio_sid)
        return 0 if socket_ is None else int(socket_.queue.qsize())

    def on_idle(self, eio_sid: str, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the session's writer waits on its empty queue (see
        :class:`IdleQueue`); None stops it."""
        socket_ = self._socket(eio_sid)
        if socket_ is not None and isinstance(socket_.queue, IdleQueue):
            socket_.queue.on_idle = callback

    def queue(self, eio_sid: str, text: str) -> int:
        """Queue one Engine.IO message packet now, synchronously; returns the number of
        packets then queued for the session, or -1 if it is gone or closing (nothing queued)."""
        socket_ = self._socket(eio_sid)
        if socket_ is None or socket_.closed or socket_.closing:
            return -1
        queue = socket_.queue
        queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data=text))
        return int(queue.qsize())

    async def drop_namespace(self, sid: str) -> None:
        """Forget a namespace connection without sending anything."""
        await self._sio.manager.disconnect(sid, self._namespace, ignore_queue=True)

    def client_disconnected(self, reason: object) -> bool:
        """A disconnect handler's ``reason`` says the client left the namespace itself."""
        return bool(reason == self._sio.eio.reason.CLIENT_DISCONNECT)

    # python-engineio never closes a transport itself after a server-side close: its websocket
    # writer ends (and closes the socket) only on a ``None`` in the session's queue, and a
    # pending long-poll GET waits for a packet until the ping interval ends. So after closing a
    # session, a ``None`` is queued.

    async def close_if_idle(self, eio_sid: str, *, drop: bool = False) -> None:
        """Close the Engine.IO session unless a namespace other than ours is connected."""
        manager = self._sio.manager
        others = [n for n in manager.get_namespaces() if n != self._namespace]
        if not any(manager.sid_from_eio_sid(eio_sid, n) for n in others):
            await self.close(eio_sid, drop=drop)

    async def close(self, eio_sid: str, *, drop: bool) -> None:
        """Close an Engine.IO session and its transport.

        ``drop``: without the Engine.IO close packet, like a lost connection, so that clients
        reconnect (python-socketio clients stop after a close packet, socket.io-client after a
        namespace disconnect). Otherwise the close packet goes first; the wait for the
        transport to take it is bounded.
        """
        eio = self._sio.eio
        socket_ = eio.sockets.get(eio_sid)
        if socket_ is None:
            return
        if drop:
            await socket_.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
            eio.sockets.pop(eio_sid, None)
        else:
            try:
                await asyncio.wait_for(eio.disconnect(eio_sid), self._close_timeout)
            except TimeoutError:
                logger.info("session %s: close not flushed in time", eio_sid)
        socket_.queue.put_nowait(None)

    async def end(self, eio_sid: str) -> None:
        """After the client disconnected the namespace: close its session, or answer the
        pending long-poll GET if the client is closing the session already (a polling
        python-socketio client's ``disconnect()`` waits for that GET)."""
        socket_ = self._socket(eio_sid)
        if socket_ is None:
            return
        if not socket_.closing:
            await self.close_if_idle(eio_sid)
        elif not socket_.upgraded:
            socket_.queue.put_nowait(None)


# -- the lean session's wire (dialects/socketio_feed/endpoint/lean.py) ---------------------------
# The same packet classes python-engineio and python-socketio use, so that a lean session's
# packets are byte for byte those of a python-socketio session.


def new_sid(sio: FeedServer) -> str:
    """A session id as python-engineio makes them (Engine.IO and namespace sids alike)."""
    sid: str = sio.eio.generate_id()
    return sid


def open_packet(sio: FeedServer, eio_sid: str) -> str:
    """The Engine.IO OPEN packet python-engineio sends a WebSocket-only session."""
    eio = sio.eio
    data = {
        "sid": eio_sid,
        "upgrades": [],
        "pingTimeout": int(eio.ping_timeout * 1000),
        "pingInterval": int(eio.ping_interval + eio.ping_interval_grace_period) * 1000,
        "maxPayload": eio.max_http_buffer_size,
    }
    text: str = eio_packet.Packet(eio_packet.OPEN, data).encode()
    return text


def ping_settings(sio: FeedServer) -> tuple[float, float, int]:
    """(ping interval, ping timeout, max payload) of the Engine.IO server."""
    eio = sio.eio
    return float(eio.ping_interval), float(eio.ping_timeout), int(eio.max_http_buffer_size)


def encode_packet(kind: int, namespace: str, data: object, ack_id: int | None = None) -> str:
    """One Socket.IO packet (without the Engine.IO ``4``), as python-socketio encodes it."""
    packet = socketio.packet.Packet(kind, namespace=namespace, data=data, id=ack_id)
    text: str = packet.encode()
    return text


def decode_packet(text: str) -> tuple[int, str, object, int | None] | None:
    """A client's Socket.IO packet (type, namespace, data, ack id), None if malformed (logged
    as ``FeedServer`` does). A CONNECT with an undecodable payload is a CONNECT without one."""
    try:
        packet = socketio.packet.Packet(encoded_packet=text)
    except ValueError as error:
        if not text.startswith("0"):
            _malformed("lean", text, str(error))
            return None
        logger.warning("feed: CONNECT with an undecodable payload from a lean session")
        return 0, text[1:].partition(",")[0] or "/", None, None
    if packet.packet_type not in _HANDLED_PACKETS - {5, 6}:
        _malformed("lean", text, f"unexpected packet type {packet.packet_type}")
        return None
    return packet.packet_type, packet.namespace or "/", packet.data, packet.id
