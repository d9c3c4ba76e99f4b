"""build_app(config) → the ASGI app: every dialect and the control plane on one port."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute

from tickcast.clock import Clock
from tickcast.config import ServerConfig
from tickcast.dashboard import mount_dashboard
from tickcast.errors import StorageError
from tickcast.features import available, require
from tickcast.model.names import InvalidName
from tickcast.server import openapi
from tickcast.server.coinmetrics import mount_coinmetrics
from tickcast.server.control.routes import router
from tickcast.server.control.schemas import ApiError
from tickcast.server.http_limits import BodyGuard
from tickcast.server.native_ws import native_endpoint
from tickcast.server.node import Node
from tickcast.server.predictions import mount_predictions
from tickcast.server.services import Services
from tickcast.server.socketio_feed import FeedMiddleware, SocketIOFeed
from tickcast.server.vega import mount_vega

logger = logging.getLogger("tickcast.server")

DESCRIPTION = """tickcast: self-hosted real-time market data.

Streaming endpoints share this port: `GET /api/v1/ws` (native protocol, docs/protocol.md).
Authenticate with `X-API-Key`, `Authorization: Bearer`, cookie `id=<key>` or `?api_key=`.

The Socket.IO price feed (Engine.IO v4 / Socket.IO v5) is at `/socket.io/`, namespace `/api-ws`,
with `auth: {apiKey}` (docs/dialects/socketio-feed.md).

The WebSocket prediction service is at `/ws`: the raw key as first text frame, then prediction
requests answered in order with `seq_num` (docs/predictions.md).

The Coin Metrics API v4 dialect is under `/v4/`: streams at `/v4/timeseries-stream/<type>`, REST at
`/v4/timeseries/*`, `/v4/reference-data/*`, `/v4/catalog-v2/*` (docs/dialects/coinmetrics.md).
"""


def predictions_enabled(config: ServerConfig) -> bool:
    """``predictions = "auto"`` turns ``/ws`` and the model routes on when the ``predict`` extra
    is installed; without it they are off and one line says so (docs/installing.md)."""
    if config.predictions == "off":
        return False
    if config.predictions == "on":
        require("predict", 'predictions (predictions = "on")')
        return True
    if not available("predict"):
        logger.warning(
            "predictions are off: /ws and /api/v1/models need tickcast's 'predict' extra "
            "(pip install 'tickcast[predict]')"
        )
        return False
    return True


def build_app(
    config: ServerConfig, *, clock: Clock | None = None, announce: bool = True
) -> FastAPI:
    node = Node(config, clock=clock)
    services = Services(node=node, socketio_feed=SocketIOFeed(node))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        if announce and node.development_key:
            print(f"Development key (admin plan, shown once): {node.development_key}", flush=True)
        try:
            yield
        finally:
            await services.stop()

    app: FastAPI = FastAPIOffline(
        title="tickcast",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.services = services
    app.state.node = node  # for tests and benchmarks that drive the node of an app directly
    app.add_middleware(FeedMiddleware, socketio_feed=services.socketio_feed)
    app.add_middleware(BodyGuard, node=node)  # outermost: before any body is read
    app.include_router(router)
    if predictions_enabled(config):
        services.predictions = mount_predictions(app, node)
        # the dashboard (a layer below server) looks the service up by this name
        app.state.predictions = services.predictions

    _install_error_handlers(app)
    _document_native_endpoint(app)
    app.router.routes.append(WebSocketRoute("/api/v1/ws", native_endpoint))
    services.vega = mount_vega(app, node)
    mount_dashboard(app, node)  # docs/dashboard.md
    services.coinmetrics = mount_coinmetrics(app.router.routes, node)
    openapi.install(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """The control plane's JSON error bodies ``{"status_code", "message"}``."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.detail, dict):
            return JSONResponse(error.detail, status_code=error.status_code)
        code = {404: 1001, 405: 1003}.get(error.status_code, error.status_code)
        message = "Not found" if error.status_code == 404 else str(error.detail)
        return JSONResponse({"status_code": code, "message": message}, error.status_code)

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, error: StorageError) -> JSONResponse:
        # the store is unreachable (e.g. PostgreSQL restarting): retryable (docs/storage.md)
        body = {"status_code": 2000, "message": "Internal server error"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(InvalidName)
    async def invalid_name(request: Request, error: InvalidName) -> JSONResponse:
        body = {"status_code": 1003, "message": error.message}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"Invalid request: {where}: {first.get('msg', 'invalid')}"
        return JSONResponse({"status_code": 1003, "message": message}, status_code=400)


def _document_native_endpoint(app: FastAPI) -> None:
    """``GET /api/v1/ws`` in the OpenAPI document (the WebSocket route itself is added by
    ``build_app``); a plain HTTP request is answered 400."""

    @app.get(
        "/api/v1/ws",
        name="websocket",
        tags=["websocket"],
        summary="Start a websocket connection",
        status_code=101,
        responses={
            101: {"description": "Switching Protocols: the native WebSocket protocol follows"},
            400: {
                "model": ApiError,
                "description": "Not a WebSocket upgrade, bad or missing "
                "key (1005), or connection limit reached (1007)",
            },
            500: {"model": ApiError, "description": "Server error or not ready (2000)"},
        },
        openapi_extra={"security": openapi.KEYED},
    )
    async def websocket() -> JSONResponse:
        """The native streaming protocol (docs/protocol.md). Needs a WebSocket upgrade: a plain
        HTTP request is answered 400; `?streams=a,b` subscribes at connect time."""
        body = {"status_code": 1003, "message": "No WebSocket UPGRADE header found"}
        return JSONResponse(body, status_code=400)
