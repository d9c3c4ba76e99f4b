"""``/v4/timeseries-stream/<endpoint>``: admitting a Coin Metrics stream, or refusing it.

Every request is accepted (101) before it is judged: a refusal (missing or wrong key, plan,
bad parameter, connection limit) goes in-band as ``{"error":{...}}`` followed by close 1008, so
the official client stops instead of reconnecting every second (protocols §1.1). Each refusal
is a ``tickcast.errors`` class rendered by the refusal table's Coin Metrics column
(``server/refusals.py``). The connection itself is ``endpoint.ws.CmConnection``.
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from tickcast.auth.keys import redact
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.endpoint.ws import CmConnection
from tickcast.dialects.coinmetrics.wire import errors, query
from tickcast.dialects.coinmetrics.wire.errors import CmError
from tickcast.dialects.coinmetrics.wire.streams import parse_stream_request
from tickcast.errors import LimitExceeded, TickcastError
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")


async def refuse(websocket: WebSocket, node: Node, error: TickcastError) -> None:
    """Count ``error`` and send it as the refusal table's Coin Metrics cell gives it: accept, the
    body in-band, close 1008 (the client stops, protocols §1.1); or, for a cell that is not
    in-band (the node is starting or stopping), refuse the handshake so the client retries."""
    wire = node.connections.refused(error).coinmetrics
    if wire is None:
        raise error
    logger.info("refused %s: %s", redact(str(websocket.url)), wire.type)
    try:
        if not wire.in_band:
            await websocket.close(error.close_code, wire.type)
            return
        await websocket.accept()
        await websocket.send_text(wire.body(error).decode())
        await websocket.close(errors.CLOSE_POLICY, wire.type)
    except Exception:
        logger.debug("refusal not delivered", exc_info=True)


async def stream_endpoint(websocket: WebSocket, service: CoinMetricsService) -> None:
    node = service.node
    endpoint = websocket.path_params.get("endpoint", "")
    if not node.ready:
        # Starting or stopping: a handshake failure makes the client retry (no close frame).
        await refuse(websocket, node, errors.unavailable())
        return
    raw_query = websocket.scope.get("query_string", b"").decode("latin-1")
    principal: Principal | None = None
    try:
        if len(websocket.scope.get("raw_path", b"")) + len(raw_query) + 1 > query.MAX_URI:
            raise errors.uri_too_long(query.MAX_URI)
        params = query.parse_query(raw_query)
        principal = node.connections.shared(await service.authenticate(params.get("api_key")))
        request = parse_stream_request(
            endpoint,
            params,
            catalog=node.catalog,
            plan=principal.plan,
            visible=service.visible_to(principal),
        )
    except CmError as error:
        await refuse(websocket, node, error)
        return
    try:
        admission = await node.connections.admit_principal(principal, Pool.STREAMS)
    except LimitExceeded:
        await refuse(websocket, node, errors.too_many_connections(principal.plan.max_connections))
        return
    detached = False
    try:
        connection = CmConnection(
            node=node,
            service=service,
            websocket=websocket,
            admission=admission,
            request=request,
            params=params,
        )
        await websocket.accept()
        if connection.detachable:  # tickcast's protocol: no task per idle connection
            await connection.detach()
            detached = True  # the connection releases its slot when it closes
            return
        await connection.run()
    finally:
        if not detached:
            admission.cancel()  # a no-op once the connection opened: its lease ended it
