"""The native dialect's routes: ``GET /api/v1/ws`` (docs/protocol.md)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute

from tickcast.dialects.native.endpoint.ws import native_endpoint
from tickcast.server import openapi
from tickcast.server.control.schemas import ApiError
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node

WS_PATH = "/api/v1/ws"

_docs = APIRouter(generate_unique_id_function=openapi.operation_id)


@_docs.get(
    WS_PATH,
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


def dialect(node: Node) -> Dialect:
    """The endpoint (documented in the OpenAPI document as a plain ``GET``, answered 400
    without an upgrade); its state is the node's hub."""
    return Dialect("native", routes=[*_docs.routes, WebSocketRoute(WS_PATH, native_endpoint)])
