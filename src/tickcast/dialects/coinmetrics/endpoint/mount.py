"""Mount the Coin Metrics dialect under ``/v4`` (docs/dialects/coinmetrics.md).

The official client hard-codes the ``/v4`` prefix. Streams are at
``/v4/timeseries-stream/<endpoint>``; REST at ``/v4/timeseries/*``, ``/v4/reference-data/*``,
``/v4/catalog-v2/*`` and ``/v4/catalog-all-v2/*``. Unknown ``/v4`` paths answer 404 in the
dialect's own error shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from tickcast.dialects.coinmetrics.endpoint.admit import refuse, stream_endpoint
from tickcast.dialects.coinmetrics.endpoint.rest import error_response, rest_routes
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.wire import errors
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node

PREFIX = "/v4"


def mount_coinmetrics(routes: list[BaseRoute], node: Node) -> CoinMetricsService:
    """Add the ``/v4`` mount to ``routes`` (an app's route list); return the dialect's state."""
    service = CoinMetricsService(node)

    async def stream(websocket: WebSocket) -> None:
        await stream_endpoint(websocket, service)

    async def stream_without_upgrade(request: Request) -> Response:
        return error_response(errors.BadParameter("This endpoint needs a WebSocket upgrade."))

    async def not_found(request: Request) -> Response:
        return error_response(errors.not_found())

    async def websocket_not_found(websocket: WebSocket) -> None:
        await refuse(websocket, service.node, errors.not_found())  # in-band: the client stops

    inner: list[BaseRoute] = [
        WebSocketRoute("/timeseries-stream/{endpoint}", stream),
        Route("/timeseries-stream/{endpoint}", stream_without_upgrade),
    ]
    inner.extend(rest_routes(service))
    inner.append(Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "DELETE"]))
    inner.append(WebSocketRoute("/{path:path}", websocket_not_found))
    routes.append(Mount(PREFIX, routes=inner))
    return service


def dialect(node: Node) -> Dialect:
    """The ``/v4`` mount and the dialect's service (its encoders and open streams)."""
    routes: list[BaseRoute] = []
    service = mount_coinmetrics(routes, node)
    return Dialect("coinmetrics", routes=routes, service=service)
