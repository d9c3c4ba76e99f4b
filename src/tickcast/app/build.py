"""build_app(config) → the ASGI app: every dialect and the control plane on one port."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from tickcast.app.registry import DIALECTS
from tickcast.clock import Clock
from tickcast.config import ServerConfig
from tickcast.dashboard import mount_dashboard
from tickcast.dialects.predictions.endpoint.service import PredictionService
from tickcast.errors import StorageError
from tickcast.model.names import InvalidName
from tickcast.server import openapi
from tickcast.server.control.routes import router
from tickcast.server.dialect import Dialect, DialectFactory
from tickcast.server.http_limits import BodyGuard
from tickcast.server.node import Node
from tickcast.server.services import Services

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


def build_app(
    config: ServerConfig,
    *,
    clock: Clock | None = None,
    announce: bool = True,
    dialects: Sequence[DialectFactory] = DIALECTS,
) -> FastAPI:
    """The app of one node: the control plane, the dashboard and every dialect of ``dialects``
    (the registry, ``tickcast.app.registry``), each mounted the same way."""
    node = Node(config, clock=clock)
    services = Services(node=node)

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
    app.include_router(router)
    _install_error_handlers(app)
    for factory in dialects:
        _mount(app, services, factory(node))
    app.add_middleware(BodyGuard, node=node)  # outermost: before any body is read
    # the dashboard (a layer below server) looks the prediction service up by this name
    app.state.predictions = services.find(PredictionService)
    mount_dashboard(app, node)  # docs/dashboard.md
    openapi.install(app)
    return app


def _mount(app: FastAPI, services: Services, dialect: Dialect | None) -> None:
    if dialect is None:  # turned off by the configuration
        return
    services.dialects.append(dialect)
    app.router.routes.extend(dialect.routes)
    for middleware in dialect.middleware:
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)


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
