"""The TCP transport behind an ASGI WebSocket, for what ASGI cannot say: "drop the connection
without a close frame" (Coin Metrics shutdown, Vega errors) and "write past flow control"."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket


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
    return getattr(_protocol_of(websocket._send), "transport", None)


def close_frame(code: int, reason: str) -> bytes:
    """An unmasked close frame (RFC 6455 5.5.1)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


def drop_transport(websocket: WebSocket, *, flush: bool = False) -> bool:
    """Drop the TCP connection without a close frame; False if not possible.

    ``flush``: send what is already buffered first (``close``: FIN after the data), else
    discard it (``abort``: RST)."""
    protocol = _protocol_of(websocket._send)
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
