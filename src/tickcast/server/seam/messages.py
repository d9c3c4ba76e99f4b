"""``incoming(websocket)``: a client's data frames until it goes away, for every dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.websockets import WebSocket, WebSocketDisconnect


async def incoming(websocket: WebSocket) -> AsyncIterator[str | bytes]:
    """Each text or binary message's payload; ends quietly on disconnect."""
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is not None:
            yield data
