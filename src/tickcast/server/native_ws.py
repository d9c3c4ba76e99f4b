"""``GET /api/v1/ws``: the native protocol endpoint (docs/protocol.md).

Auth and limits are checked before the upgrade: a refusal is an HTTP 400 (500 when the node or
its store is unavailable) with a JSON ``{"status_code", "message"}`` body, as the OpenAPI
document says; the forms are the ``native`` column of ``server/refusals.py``.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from tickcast.auth.keys import redact
from tickcast.errors import InvalidApiKey, LimitExceeded, StorageError, TickcastError, Unavailable
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.native_connection import NativeConnection
from tickcast.server.node import Node
from tickcast.server.refusals import refusal_of
from tickcast.server.services import node_of
from tickcast.session import Session
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")


async def _deny(websocket: WebSocket, node: Node, error: TickcastError) -> None:
    refusal = refusal_of(error)
    node.metrics.refusals.labels(refusal.metric).inc()
    assert refusal.native is not None
    response = JSONResponse(refusal.native.body, status_code=refusal.native.status)
    await websocket.send_denial_response(response)


async def _admit(websocket: WebSocket, node: Node) -> Principal:
    """The principal of an acceptable connection, holding a connection slot; else raises."""
    if not node.ready:
        raise Unavailable("the node is not ready")
    try:
        principal = await node.authenticate(api_key_from(websocket.headers, websocket.query_params))
    except StorageError:
        # the store is unreachable (e.g. PostgreSQL restarting): retryable, §7's 500 at connect
        logger.warning("refused %s: the store failed", redact(str(websocket.url)), exc_info=True)
        raise
    if principal is None:
        logger.info("refused %s: unauthenticated", redact(str(websocket.url)))
        raise InvalidApiKey("unauthenticated")
    if not await node.limits.acquire(Pool.STREAMS, principal.user, principal.plan.max_connections):
        raise LimitExceeded("connection limit exceeded")
    return principal


async def native_endpoint(websocket: WebSocket) -> None:
    node = node_of(websocket.app)
    try:
        principal = await _admit(websocket, node)
    except (Unavailable, StorageError, InvalidApiKey, LimitExceeded) as error:
        await _deny(websocket, node, error)
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
