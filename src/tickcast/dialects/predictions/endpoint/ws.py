"""``/ws``: the WebSocket prediction endpoint (docs/predictions.md).

The endpoint accepts the upgrade, waits ``auth_timeout`` seconds for the raw key, checks it, the
plan feature ``predictions-ws`` and the per-user, cluster-wide connection limit (the plan's
``max_prediction_connections``; 0, the built-in plans' value, takes any number, each one
metered), then answers requests one at a time in the order they arrive: read a frame, parse
it (``tickcast.dialects.predictions.wire.protocol``), look the model up in the registry's
cache, predict, send the reply. Trees, forests and linear models predict on the event loop
(microseconds) unless a request needs more than ``INLINE_TREE_WALKS`` tree walks;
those, gradient boosting and k-NN run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.dialects.predictions.endpoint.connection import PredictionConnection
from tickcast.dialects.predictions.endpoint.service import PredictionService
from tickcast.dialects.predictions.wire import protocol as dialect
from tickcast.errors import (
    AuthTimeout,
    InvalidApiKey,
    LimitExceeded,
    NotEntitled,
    TickcastError,
    Unavailable,
)
from tickcast.server.connections import Admission
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.services import services_of

logger = logging.getLogger("tickcast.server")

__all__ = ["PredictionConnection", "predictions_endpoint"]


async def _refuse(websocket: WebSocket, node: Node, error: TickcastError) -> None:
    refusal = node.connections.refused(error)
    assert refusal.predictions is not None
    message = refusal.predictions.message
    try:
        await websocket.send_text(dialect.auth_frame(False, message).decode())
        await websocket.close(refusal.predictions.close_code, message)
    except Exception:  # the peer went away first
        logger.debug("refusal not delivered", exc_info=True)


async def _admit(websocket: WebSocket, service: PredictionService) -> tuple[Admission, str] | None:
    """The admission and key of an acceptable connection, holding a slot; None if the client
    left first; else raises a ``tickcast.errors`` class (server/refusals.py: its frame)."""
    node = service.node
    if not node.ready:
        raise Unavailable("the node is not ready")
    try:
        first = await asyncio.wait_for(websocket.receive(), service.auth_timeout)
    except TimeoutError:
        raise AuthTimeout("no key in time") from None
    except (WebSocketDisconnect, RuntimeError):
        return None
    if first["type"] == "websocket.disconnect":
        return None
    key = dialect.key_of_frame(first.get("text"))
    principal = await node.authenticate(key) if key else None
    if key is None or principal is None:
        raise InvalidApiKey("unauthenticated")
    plan = principal.plan
    if not plan.allows_feed(dialect.FEATURE):
        raise NotEntitled("the plan has no WebSocket predictions")
    return await node.connections.admit_principal(principal, Pool.PREDICTIONS), key


async def predictions_endpoint(websocket: WebSocket) -> None:
    service = services_of(websocket.app).service(PredictionService)
    node = service.node
    await websocket.accept()
    try:
        admitted = await _admit(websocket, service)
    except (Unavailable, InvalidApiKey, NotEntitled, LimitExceeded) as error:
        await _refuse(websocket, node, error)
        return
    if admitted is None:
        return
    admission, key = admitted
    connection = PredictionConnection(
        service=service,
        websocket=websocket,
        principal=node.connections.shared(admission.principal),
        key=key,
    )
    service.connections[connection.id] = connection
    if connection.detachable:  # tickcast's protocol: no task per idle connection
        await connection.detach(admission.open(connection))
        return
    try:
        async with admission.opened(connection):
            await connection.run()
    except (OSError, RuntimeError):  # peer gone or socket closed while we wrote
        logger.debug("connection %s: peer gone", connection.id)
    finally:
        connection.closed = True
        service.connections.pop(connection.id, None)
