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
from tickcast.dialects.native.endpoint.connection import NativeConnection
from tickcast.errors import InvalidApiKey, LimitExceeded, StorageError, TickcastError, Unavailable
from tickcast.server.connections import Admission
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.services import node_of
from tickcast.session import Session

logger = logging.getLogger("tickcast.server")


async def _deny(websocket: WebSocket, node: Node, error: TickcastError) -> None:
    refusal = node.connections.refused(error)
    assert refusal.native is not None
    response = JSONResponse(refusal.native.body, status_code=refusal.native.status)
    await websocket.send_denial_response(response)


async def _admit(websocket: WebSocket, node: Node) -> Admission:
    """An acceptable connection's admission, holding a connection slot; else raises."""
    key = api_key_from(websocket.headers, websocket.query_params)
    try:
        return await node.connections.admit(key, Pool.STREAMS)
    except StorageError:
        # the store is unreachable (e.g. PostgreSQL restarting): retryable, §7's 500 at connect
        logger.warning("refused %s: the store failed", redact(str(websocket.url)), exc_info=True)
        raise
    except InvalidApiKey:
        logger.info("refused %s: unauthenticated", redact(str(websocket.url)))
        raise


async def native_endpoint(websocket: WebSocket) -> None:
    node = node_of(websocket.app)
    try:
        admission = await _admit(websocket, node)
    except (Unavailable, StorageError, InvalidApiKey, LimitExceeded) as error:
        await _deny(websocket, node, error)
        return
    principal = admission.principal
    detached = False
    try:
        session = Session(
            plan=principal.plan, known=node.stream_known_to(principal), clock=node.clock
        )
        connection = NativeConnection(
            node=node, websocket=websocket, admission=admission, session=session
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
            admission.cancel()  # a no-op once the connection opened: its lease ended it
