"""uvicorn's sans-I/O WebSocket protocol plus tickcast's batched-write extension.

* ``{"type": "tickcast.write", "frames": [payload, ...]}``: an ASGI message carrying a whole
  batch of text frames; the protocol frames them (server frames are unmasked, so the bytes are
  the same for every client) and writes the batch with one ``transport.write``.
* ``scope["extensions"]["tickcast.write"]["sink"]``: a :class:`ProtocolSink`, the
  :class:`~tickcast.delivery.channel.Sink` through which the hub writes shared batches straight
  to the transport (one ``bytes`` object for every subscriber of a subscription set).

Handshake, pings, close and every standard ASGI message are uvicorn's own. Without the
extension (another ASGI server) endpoints fall back to one ``websocket.send`` per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from tickcast.delivery.channel import text_frame_header, websocket_text_frames

WRITE_EXTENSION = "tickcast.write"

__all__ = [
    "WRITE_EXTENSION",
    "ProtocolSink",
    "TickcastWebSocketProtocol",
    "frame_batch",
    "sink_of",
    "text_frame_header",
]


def frame_batch(payloads: list[bytes]) -> bytes:
    """One buffer holding every payload as its own text frame."""
    return websocket_text_frames(payloads)


class ProtocolSink:
    """A WebSocket connection's transport as a :class:`~tickcast.delivery.channel.Sink`."""

    __slots__ = ("_protocol", "on_drain")

    framing = staticmethod(websocket_text_frames)

    def __init__(self, protocol: TickcastWebSocketProtocol) -> None:
        self._protocol = protocol
        self.on_drain: Callable[[], None] | None = None
        """Called when the transport's buffer fell below its low-water mark."""

    @property
    def open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected)

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


def sink_of(scope: Mapping[str, Any]) -> ProtocolSink | None:
    """The connection's sink, if the server runs :class:`TickcastWebSocketProtocol`."""
    extension = scope.get("extensions", {}).get(WRITE_EXTENSION)
    return extension.get("sink") if isinstance(extension, dict) else None


class TickcastWebSocketProtocol(WebSocketsSansIOProtocol):
    sending = 0
    _sink: ProtocolSink | None = None

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

    async def send(self, message: Any) -> None:
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
