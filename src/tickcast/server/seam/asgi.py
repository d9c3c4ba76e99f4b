"""What ASGI and Starlette's ``WebSocket`` cannot say, in one place.

* the raw ASGI ``send`` behind a Starlette ``WebSocket`` (``WebSocket._send``, private): the
  only way to pass tickcast's own ASGI messages (``tickcast.write``, ``tickcast.detach``),
  because ``WebSocket.send`` only lets standard messages through;
* the TCP transport behind an ASGI WebSocket, for "drop the connection without a close frame"
  (Coin Metrics shutdown, Vega errors): found by walking the closures of ``send`` (middleware
  wraps it) down to uvicorn's protocol object, which has a ``transport``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Send
from starlette.websockets import WebSocket

from tickcast.server.seam.uvicorn_ws import DETACH, WRITE_EXTENSION, DetachedHandler

FrameWriter = Callable[[list[bytes]], Awaitable[None]]
"""Writes a batch of (UTF-8) text frame payloads to one WebSocket."""


def asgi_send(websocket: WebSocket) -> Send:
    """The ASGI ``send`` callable Starlette's ``WebSocket`` wraps."""
    send: Send = websocket._send
    return send


def batched(websocket: WebSocket) -> bool:
    """The server runs tickcast's protocol: a batch of frames is one ASGI message."""
    return WRITE_EXTENSION in websocket.scope.get("extensions", {})


def frame_writer(websocket: WebSocket, *, checked: bool = True) -> FrameWriter:
    """A writer of frame batches: one ``tickcast.write`` message when the server runs
    tickcast's protocol, else one ``websocket.send`` per frame, through Starlette's
    ``WebSocket.send`` (``checked``, which refuses once a close was sent) or the raw ``send``."""
    send = asgi_send(websocket)
    if batched(websocket):

        async def write_batch(frames: list[bytes]) -> None:
            await send({"type": WRITE_EXTENSION, "frames": frames})

        return write_batch
    each: Send = websocket.send if checked else send

    async def write_each(frames: list[bytes]) -> None:
        for frame in frames:
            await each({"type": "websocket.send", "text": frame.decode()})

    return write_each


async def detach(websocket: WebSocket, handler: DetachedHandler) -> None:
    """Hand an accepted connection to ``handler``'s callbacks (``tickcast.detach``)."""
    await asgi_send(websocket)({"type": DETACH, "handler": handler})


def _protocol_of(send: Any, depth: int = 0) -> Any:
    """The uvicorn protocol behind an ASGI ``send`` (middleware wraps it in closures)."""
    owner = getattr(send, "__self__", None)
    if owner is not None and hasattr(owner, "transport"):
        return owner
    if depth >= 8:
        return None
    for cell in getattr(send, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value):
            found = _protocol_of(value, depth + 1)
            if found is not None:
                return found
    return None


def transport_of(websocket: WebSocket) -> Any:
    """uvicorn's asyncio transport for this WebSocket, or None under another server."""
    return getattr(_protocol_of(asgi_send(websocket)), "transport", None)


def close_frame(code: int, reason: str) -> bytes:
    """An unmasked close frame (RFC 6455 5.5.1)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


def drop_transport(websocket: WebSocket, *, flush: bool = False) -> bool:
    """Drop the TCP connection without a close frame; False if not possible.

    ``flush``: send what is already buffered first (``close``: FIN after the data), else
    discard it (``abort``: RST)."""
    protocol = _protocol_of(asgi_send(websocket))
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    if hasattr(protocol, "close_sent"):
        protocol.close_sent = True  # uvicorn's shutdown must not write its close frame (1012)
    if flush:
        transport.close()
    else:
        transport.abort()
    return True
