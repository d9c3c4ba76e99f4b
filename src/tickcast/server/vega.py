"""``mount_vega(app, node)``: the Vega data-node dialect (docs/dialects/vega.md)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route, WebSocketRoute

from tickcast.server.node import Node
from tickcast.server.vega_feed import VegaFeed
from tickcast.server.vega_rest import router
from tickcast.server.vega_ws import vega_http_endpoint, vega_ws_endpoint

STREAM_PATH = "/api/v2/stream/{path:path}"


def mount_vega(app: FastAPI, node: Node) -> VegaFeed:
    """Serve ``/api/v2/stream/*`` (WebSocket and chunked HTTP) and the REST companions."""
    feed = VegaFeed(node)
    app.include_router(router)
    app.router.routes.append(WebSocketRoute(STREAM_PATH, vega_ws_endpoint))
    app.router.routes.append(
        Route(STREAM_PATH, vega_http_endpoint, methods=["GET"], include_in_schema=False)
    )
    return feed
