"""The Socket.IO price feed's mount: a middleware taking ``/socket.io/``
(docs/dialects/socketio-feed.md)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from tickcast.dialects.socketio_feed.endpoint.feed import SocketIOFeed
from tickcast.dialects.socketio_feed.endpoint.lean import serve_lean, wants_lean
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node
from tickcast.server.seam import engineio

ENGINEIO_PATH = "/socket.io/"


def dialect(node: Node) -> Dialect:
    feed = SocketIOFeed(node)
    return Dialect(
        "socketio_feed",
        service=feed,
        start=feed.start,
        stop=feed.stop,
        middleware=[Middleware(FeedMiddleware, socketio_feed=feed)],
    )


class FeedMiddleware:
    """ASGI middleware: Engine.IO at ``/socket.io/`` (the feed), everything else to ``app``.
    A WebSocket-only session under tickcast's protocol is served by ``lean.serve_lean``;
    polling and upgrades by python-socketio.

    Added with ``app.add_middleware(FeedMiddleware, socketio_feed=...)``, so that the FastAPI
    app stays the app uvicorn runs (and lifespan events still reach it). While the node is not
    ready (shutting down), Engine.IO requests get HTTP 503 or a refused WebSocket handshake:
    a transport failure, after which clients retry, where an in-band refusal would stop them.
    """

    def __init__(self, app: ASGIApp, *, socketio_feed: SocketIOFeed) -> None:
        self._node = socketio_feed.node
        self._feed = socketio_feed
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
        if scope["type"] == "websocket" and self._feed.lean and wants_lean(scope, ENGINEIO_PATH):
            await serve_lean(self._feed, scope, receive, send)  # lean.py: no python-engineio
            return
        await self._asgi(scope, receive, send)
