"""uvicorn's sans-I/O WebSocket protocol plus one ASGI extension: ``tickcast.write``.

Streaming endpoints hand the protocol a whole batch of text frames in one ASGI message
``{"type": "tickcast.write", "frames": [payload, ...]}``; the protocol frames them (server frames
are unmasked, so the bytes are the same for every client) and writes the batch with one
``transport.write``: one system call carries many frames. Handshake, pings, close and every
standard ASGI message are uvicorn's own. The extension is announced in
``scope["extensions"]["tickcast.write"]``; without it (another ASGI server) endpoints fall back
to one ``websocket.send`` per frame.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

WRITE_EXTENSION = "tickcast.write"


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame carrying ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65_536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


def frame_batch(payloads: list[bytes]) -> bytes:
    """One buffer holding every payload as its own text frame."""
    parts: list[bytes] = []
    for payload in payloads:
        parts.append(text_frame_header(len(payload)))
        parts.append(payload)
    return b"".join(parts)


class TickcastWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][WRITE_EXTENSION] = {}

    async def send(self, message: Any) -> None:
        if message["type"] != WRITE_EXTENSION:
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected or self.close_sent or not self.handshake_complete:
            raise ClientDisconnected()
        self.transport.write(frame_batch(message["frames"]))
