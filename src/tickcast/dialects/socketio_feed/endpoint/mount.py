"""The Socket.IO price feed's mount: a middleware taking ``/socket.io/``
(docs/dialects/socketio-feed.md)."""

from __future__ import annotations

from starlette.middleware import Middleware

from tickcast.dialects.socketio_feed.endpoint.feed import FeedMiddleware, SocketIOFeed
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node


def dialect(node: Node) -> Dialect:
    feed = SocketIOFeed(node)
    return Dialect(
        "socketio_feed",
        service=feed,
        start=feed.start,
        stop=feed.stop,
        middleware=[Middleware(FeedMiddleware, socketio_feed=feed)],
    )
