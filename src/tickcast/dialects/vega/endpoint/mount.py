"""The Vega data-node dialect's routes and feed (docs/dialects/vega.md)."""

from __future__ import annotations

from starlette.routing import Route, WebSocketRoute

from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.rest import router
from tickcast.dialects.vega.endpoint.ws import vega_http_endpoint, vega_ws_endpoint
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node

STREAM_PATH = "/api/v2/stream/{path:path}"


def dialect(node: Node) -> Dialect:
    """``/api/v2/stream/*`` (WebSocket and chunked HTTP) and the REST companions."""
    feed = VegaFeed(node)
    routes = [
        *router.routes,
        WebSocketRoute(STREAM_PATH, vega_ws_endpoint),
        Route(STREAM_PATH, vega_http_endpoint, methods=["GET"], include_in_schema=False),
    ]
    return Dialect("vega", routes=routes, service=feed, stop=feed.stop)
