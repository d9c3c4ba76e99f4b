"""``GET /api/v1/ws``: the native protocol endpoint (docs/protocol.md).

Auth and limits are checked before the upgrade: a refusal is an HTTP 400 (500 when the node or
its store is unavailable) with a JSON ``{"status_code", "message"}`` body, as the OpenAPI
document says; the forms are the ``native`` column of ``server/refusals.py``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from tickcast.auth.keys import redact
from tickcast.dialects.native.endpoint.connection import NativeConnection
from tickcast.errors import InvalidApiKey, LimitExceeded, StorageError, TickcastError, Unavailable
from tickcast.model import StreamKey
from tickcast.server.connections import Admission
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.services import node_of
from tickcast.session import RateLimit, Session
from tickcast.storage.base import Principal

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


_Shared = tuple[Principal, Callable[[StreamKey], bool], RateLimit]
_SHARED: weakref.WeakKeyDictionary[Node, dict[Principal, _Shared]] = weakref.WeakKeyDictionary()
SHARED_PRINCIPALS = 4_096
"""Distinct principals whose per-connection parts are shared (the cache is reset beyond)."""


def shared_parts(node: Node, principal: Principal) -> _Shared:
    """One principal object, stream-visibility check and rate limit for every connection of
    the same principal (authentication builds a new, equal principal each time): an idle
    connection then holds no copy of its plan (docs/performance.md, idle memory)."""
    cache = _SHARED.setdefault(node, {})
    try:
        found = cache.get(principal)
    except TypeError:  # an unhashable plan field: nothing shared
        return principal, node.stream_known_to(principal), RateLimit.for_plan(principal.plan)
    if found is None:
        if len(cache) >= SHARED_PRINCIPALS:
            cache.clear()
        found = cache[principal] = (
            principal,
            node.stream_known_to(principal),
            RateLimit.for_plan(principal.plan),
        )
    return found


async def native_endpoint(websocket: WebSocket) -> None:
    node = node_of(websocket.app)
    try:
        admission = await _admit(websocket, node)
    except (Unavailable, StorageError, InvalidApiKey, LimitExceeded) as error:
        await _deny(websocket, node, error)
        return
    principal, known, rate = shared_parts(node, admission.principal)
    detached = False
    try:
        session = Session(plan=principal.plan, known=known, clock=node.clock, rate=rate)
        connection = NativeConnection(
            node=node, websocket=websocket, admission=admission, session=session,
            principal=principal,
        )  # fmt: skip
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
