"""uvicorn's sans-I/O WebSocket protocol plus tickcast's batched-write extension.

* ``{"type": "tickcast.write", "frames": [payload, ...]}``: an ASGI message carrying a whole
  batch of text frames; the protocol frames them (server frames are unmasked, so the bytes are
  the same for every client) and writes the batch with one ``transport.write``.
* ``scope["extensions"]["tickcast.write"]["sink"]``: a :class:`ProtocolSink`, the
  :class:`~tickcast.delivery.channel.Sink` through which the hub writes shared batches straight
  to the transport (one ``bytes`` object for every subscriber of a subscription set).

* ``{"type": "tickcast.detach", "handler": handler}``: after ``websocket.accept``, the endpoint
  hands the connection to a :class:`DetachedHandler` and returns. From then on the protocol calls
  ``handler.on_message(text)`` for every message and ``handler.on_disconnect()`` once, and does
  not close the socket when the ASGI call ends: no task, middleware frames or receive queue
  stay alive per idle connection (docs/performance.md, idle memory).

Handshake, pings, close and every standard ASGI message are uvicorn's own. Without the
extension (another ASGI server) endpoints fall back to one ``websocket.send`` per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import websockets.http11
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from tickcast.delivery.channel import text_frame_header, websocket_text_frames
from tickcast.server.seam.lean import LeanWebSocket, keepalive_for

WRITE_EXTENSION = "tickcast.write"
DETACH = "tickcast.detach"


class DetachedHandler(Protocol):
    """What a detached connection's protocol calls (synchronously, from its callbacks)."""

    def on_message(self, data: str | bytes) -> None: ...

    def on_disconnect(self) -> None:
        """The connection is gone or closing (called once)."""


class _HandlerQueue:
    """Stands in for uvicorn's receive queue once detached: forwards to the handler."""

    __slots__ = ("handler",)

    def __init__(self, handler: DetachedHandler | None) -> None:
        self.handler: DetachedHandler | None = handler

    def put_nowait(self, message: dict[str, Any]) -> None:
        handler = self.handler
        if handler is None:
            return
        if message["type"] == "websocket.receive":
            data = message.get("text")
            handler.on_message(data if data is not None else message.get("bytes", b""))
        elif message["type"] == "websocket.disconnect":
            self.handler = None
            handler.on_disconnect()

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0


class _NoCloseTimer:
    """A ``close_timer`` placeholder: uvicorn closes the transport when the ASGI call returns
    unless a close timer is set; a detached connection outlives the call."""

    __slots__ = ()

    def cancel(self) -> None:
        return None


_NO_CLOSE_TIMER = _NoCloseTimer()

__all__ = [
    "DETACH",
    "WRITE_EXTENSION",
    "DetachedHandler",
    "ProtocolSink",
    "TickcastWebSocketProtocol",
    "bound_handshakes",
    "frame_batch",
    "sink_of",
    "text_frame_header",
]


def bound_handshakes(max_header_bytes: int, max_headers: int) -> None:
    """Let the HTTP protocol's head bounds (431) be the only ones: the websockets library
    re-parses each handshake with its own, smaller line limit (8192), which answered a Coin
    Metrics URL over it with 414 instead of the dialect's in-band ``uri_too_long``."""
    websockets.http11.MAX_LINE_LENGTH = max(max_header_bytes, 8192)
    websockets.http11.MAX_NUM_HEADERS = max(max_headers, 128)


def frame_batch(payloads: list[bytes]) -> bytes:
    """One buffer holding every payload as its own text frame."""
    return websocket_text_frames(payloads)


class ProtocolSink:
    """A WebSocket connection's transport as a :class:`~tickcast.delivery.channel.Sink`."""

    __slots__ = ("_protocol", "on_drain")

    framing = staticmethod(websocket_text_frames)

    def __init__(self, protocol: TickcastWebSocketProtocol) -> None:
        self._protocol: TickcastWebSocketProtocol | LeanWebSocket = protocol
        self.on_drain: Callable[[], None] | None = None
        """Called when the transport's buffer fell below its low-water mark."""

    @property
    def open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected)

    @property
    def raw_write(self) -> Callable[[bytes], None]:
        """The transport's own ``write``, for a writer that stops before the close frame."""
        write: Callable[[bytes], None] = self._protocol.transport.write
        return write

    @property
    def raw_backlog(self) -> Callable[[], int]:
        size: Callable[[], int] = self._protocol.transport.get_write_buffer_size
        return size

    def write(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return
        protocol.transport.write(data)

    def backlog(self) -> int:
        return self._protocol.transport.get_write_buffer_size()

    def busy(self) -> bool:
        """A standard ASGI send is in progress (it may still be waiting to write)."""
        return self._protocol.sending > 0

    def pause_reading(self) -> None:
        with contextlib.suppress(Exception):
            self._protocol.transport.pause_reading()

    def resume_reading(self) -> None:
        with contextlib.suppress(Exception):
            self._protocol.transport.resume_reading()

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame (the handler's ``on_disconnect`` follows)."""
        with contextlib.suppress(ClientDisconnected, RuntimeError):
            await self._protocol.send({"type": "websocket.close", "code": code, "reason": reason})

    def drop(self) -> None:
        """Close TCP after what is buffered, without a close frame (nothing is written after,
        uvicorn's shutdown close included); the handler's ``on_disconnect`` follows."""
        protocol = self._protocol
        protocol.close_sent = True
        with contextlib.suppress(RuntimeError, OSError):
            protocol.transport.close()


def sink_of(scope: Mapping[str, Any]) -> ProtocolSink | None:
    """The connection's sink, if the server runs :class:`TickcastWebSocketProtocol`."""
    extension = scope.get("extensions", {}).get(WRITE_EXTENSION)
    return extension.get("sink") if isinstance(extension, dict) else None


class FrameBoundary:
    """Follows the frame headers of a client's byte stream: whether what was read so far ends
    exactly at the end of a frame (the only point where the lean parser can take over)."""

    __slots__ = ("_head", "_left")

    def __init__(self) -> None:
        self._head = b""
        self._left = 0

    def at_boundary(self) -> bool:
        return not self._left and not self._head

    def feed(self, data: bytes) -> None:
        offset, end = 0, len(data)
        while offset < end:
            if self._left:
                take = min(self._left, end - offset)
                self._left -= take
                offset += take
                continue
            known = len(self._head)
            head = self._head + data[offset : offset + 14 - known]  # a header is ≤ 14 bytes
            parsed = _frame_header(head)
            if parsed is None:  # the header goes on in the next read
                self._head = head
                return
            size, length = parsed
            offset += size - known
            self._head = b""
            self._left = length


def _frame_header(head: bytes) -> tuple[int, int] | None:
    """(header size, payload length) of the frame starting ``head``, None if incomplete."""
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    extended = 2 if length == 126 else 8 if length == 127 else 0
    size = 2 + extended + (4 if head[1] & 0x80 else 0)
    if len(head) < size:
        return None
    if extended:
        length = int.from_bytes(head[2 : 2 + extended], "big")
    return size, length


class TickcastWebSocketProtocol(WebSocketsSansIOProtocol):
    sending = 0
    _sink: ProtocolSink | None = None
    _boundary: FrameBoundary | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            self._sink = ProtocolSink(self)
            scope["extensions"][WRITE_EXTENSION] = {"sink": self._sink}

    def resume_writing(self) -> None:
        super().resume_writing()
        sink = self._sink
        if sink is not None and sink.on_drain is not None:
            sink.on_drain()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        sink = self._sink
        if sink is not None:
            sink.on_drain = None

    def _detach(self, handler: DetachedHandler) -> None:
        queued = self.queue
        self.queue = _HandlerQueue(handler)  # type: ignore[assignment]
        while not queued.empty():  # messages that arrived before the endpoint detached
            self.queue.put_nowait(queued.get_nowait())
        if self.close_timer is None:
            self.close_timer = _NO_CLOSE_TIMER  # type: ignore[assignment]
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if self._can_go_lean():
            self._go_lean(handler)
            return
        request = getattr(self, "request", None)
        if request is not None:  # the parser's frame keeps the request: drop its headers
            request.headers.clear()
        self.request = self.response = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.handshake_complete:
            boundary = self._boundary
            if boundary is None:
                boundary = self._boundary = FrameBoundary()
            boundary.feed(data)
        super().data_received(data)

    def _can_go_lean(self) -> bool:
        """The client's bytes read since the handshake end on a frame boundary, outside a
        fragmented message (the lean parser starts at a frame), and the connection is open."""
        boundary = self._boundary
        return (
            self.handshake_complete
            and (boundary is None or boundary.at_boundary())
            and not self.frames
            and getattr(self.conn, "current_size", None) is None
            and not self.close_sent
            and not self.disconnected
            and not self.conn.reader.buffer
            and not self.conn.extensions  # the lean parser speaks plain frames only
            and self._sink is not None
        )

    def _go_lean(self, handler: DetachedHandler) -> None:
        """Hand the transport to a :class:`LeanWebSocket` (this object is then dropped)."""
        self.stop_keepalive()
        lean = LeanWebSocket(
            self.transport,
            handler,
            max_size=self.config.ws_max_size,
            keepalive=keepalive_for(self.ping_interval, self.ping_timeout),
            connections=self.connections,
        )
        sink = self._sink
        assert sink is not None
        sink._protocol = lean
        lean.sink = sink
        self.connections.discard(self)
        self._sink = None
        self.queue = _HandlerQueue(None)  # type: ignore[assignment]
        lean.start()

    def send_receive_event_to_app(self) -> None:
        if not isinstance(self.queue, _HandlerQueue):
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":
            try:
                self.queue.put_nowait({"type": "websocket.receive", "text": data.decode()})
            except UnicodeDecodeError:
                self.conn.send_close(1007)
                self.handle_parser_exception()
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data})

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        super().on_task_complete(task)
        if isinstance(self.queue, _HandlerQueue):
            self.scope = {"type": "websocket", "extensions": {}}

    async def send(self, message: Any) -> None:
        if message["type"] == DETACH:
            self._detach(message["handler"])
            return
        if message["type"] != WRITE_EXTENSION:
            self.sending += 1
            try:
                await super().send(message)
            finally:
                self.sending -= 1
            return
        await self.writable.wait()
        if self.disconnected or self.close_sent or not self.handshake_complete:
            raise ClientDisconnected()
        self.transport.write(websocket_text_frames(message["frames"]))
