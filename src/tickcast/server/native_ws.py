"""``GET /api/v1/ws``: the native protocol endpoint (docs/protocol.md).

Auth and limits are checked before the upgrade: a refusal is an HTTP 400 with a JSON
``{"status_code", "message"}`` body, as the OpenAPI document says.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from tickcast.auth.keys import redact
from tickcast.errors import StorageError
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.native_connection import NativeConnection
from tickcast.server.node import Node
from tickcast.session import Session

logger = logging.getLogger("tickcast.server")

UNAUTHENTICATED = {"status_code": 1005, "message": "Unauthenticated"}
CONNECTION_LIMIT = {"status_code": 1007, "message": "Connection limit exceeded"}
NOT_READY = {"status_code": 2000, "message": "Internal server error"}


async def _deny(websocket: WebSocket, body: dict[str, object], status: int = 400) -> None:
    await websocket.send_denial_response(JSONResponse(body, status_code=status))


async def native_endpoint(websocket: WebSocket) -> None:
    node: Node = websocket.app.state.node
    if not node.ready:
        await _deny(websocket, NOT_READY, 500)
        return
    key = api_key_from(websocket.headers, websocket.query_params)
    try:
        principal = await node.authenticate(key)
    except StorageError:
        # the store is unreachable (e.g. PostgreSQL restarting): retryable, §7's 500 at connect
        node.metrics.refusals.labels("storage_error").inc()
        logger.warning("refused %s: the store failed", redact(str(websocket.url)), exc_info=True)
        await _deny(websocket, NOT_READY, 500)
        return
    if principal is None:
        node.metrics.refusals.labels("unauthenticated").inc()
        logger.info("refused %s: unauthenticated", redact(str(websocket.url)))
        await _deny(websocket, UNAUTHENTICATED)
        return
    if not await node.limits.acquire(Pool.STREAMS, principal.user, principal.plan.max_connections):
        node.metrics.refusals.labels("connection_limit").inc()
        await _deny(websocket, CONNECTION_LIMIT)
        return
    detached = False
    try:
        session = Session(
            plan=principal.plan, known=node.stream_known_to(principal), clock=node.clock
        )
        connection = NativeConnection(
            node=node, websocket=websocket, principal=principal, session=session
        )
        await websocket.accept()
        streams = websocket.query_params.get("streams")
        if connection.detachable:  # tickcast's protocol: no task per idle connection
            await connection.detach(initial_streams=streams)
            detached = True  # the connection releases its slot when it closes
            return
        await connection.run(initial_streams=streams)
    finally:
        if not detached:
            node.limits.release(Pool.STREAMS, principal.user)
