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
import itertools
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from tickcast.dialects.predictions.endpoint.service import PredictionService
from tickcast.dialects.predictions.wire import protocol as dialect
from tickcast.dialects.predictions.wire.protocol import PredictionSession, PredictRequest, Reply
from tickcast.errors import (
    AuthTimeout,
    InvalidApiKey,
    LimitExceeded,
    NotEntitled,
    TickcastError,
    Unavailable,
)
from tickcast.predict.inference import runs_inline
from tickcast.predict.spec import ModelError, ModelRef
from tickcast.server.connections import Admission, connection_info
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.seam import frame_writer, incoming
from tickcast.server.services import services_of
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
MAX_REFS = 1_000
"""Validated model references a connection remembers."""


class PredictionConnection:
    """One authenticated ``/ws`` connection (a ``LiveConnection`` of the node)."""

    dialect = dialect.FEATURE

    def __init__(
        self, *, service: PredictionService, websocket: WebSocket, principal: Principal, key: str
    ) -> None:
        self.id = f"p{next(_ids)}"
        self.service = service
        self.principal = principal
        self.session = PredictionSession(key)
        self._websocket = websocket
        self._write = frame_writer(websocket)
        client = websocket.client
        self.remote = f"{client.host}:{client.port}" if client else "?"
        self.opened_at = time.time()
        self._opened_mono = time.monotonic()
        self.messages = 0
        self.bytes = 0
        self.predictions = 0
        self.closed = False
        self._versions: dict[ModelRef, int] = {}
        """Model versions this connection has used (for the "New model configuration" reply)."""
        self._refs: dict[tuple[str, str, str], ModelRef] = {}
        """Validated model references by request names (skips re-validating on every request)."""

    @property
    def requests(self) -> int:
        return self.session.requests

    def connection_seconds(self) -> float:
        return max(0.0, time.monotonic() - self._opened_mono)

    def info(self) -> dict[str, object]:
        subscriptions = [
            f"model:{ref.strategy}:{ref.type}:{ref.name}" for ref in sorted(self._versions)
        ]
        info = connection_info(
            self, subscriptions=subscriptions, pending_bytes=0, messages=self.messages,
            nbytes=self.bytes,
        )  # fmt: skip
        info["requests"] = self.requests
        info["predictions"] = self.predictions
        info["connection_seconds"] = round(self.connection_seconds(), 3)
        return info

    async def send(self, frame: bytes, *, prediction: bool = False) -> None:
        await self._write([frame])
        self.messages += 1
        self.bytes += len(frame)
        node = self.service.node
        node.meter.delivered(
            self.principal.key_id, 1, len(frame), predictions=1 if prediction else 0
        )
        node.metrics.messages.inc()
        node.metrics.bytes.inc(len(frame))  # = node.connections.delivered, plus predictions

    async def run(self) -> None:
        await self.send(dialect.VALID_KEY_FRAME)
        websocket = self._websocket
        async for data in incoming(websocket):
            if self.closed:
                return
            outcome = self.session.receive(data)
            if isinstance(outcome, Reply):
                await self.send(outcome.frame)
            else:
                frame, ok = await self.answer(outcome)
                await self.send(frame, prediction=ok)

    async def answer(self, request: PredictRequest) -> tuple[bytes, bool]:
        """The reply to one request, and whether it is a prediction."""
        seq = request.seq
        registry = self.service.registry
        names = (request.strategy, request.model, request.model_type)
        ref = self._refs.get(names)
        if ref is None:
            try:
                ref = ModelRef.checked(self.principal.user, *names)
            except ModelError:
                return dialect.error_frame(seq, dialect.MODEL_NOT_FOUND), False
            if len(self._refs) < MAX_REFS:
                self._refs[names] = ref
        try:
            entry = registry.cached(ref) or await registry.load(ref)
        except TickcastError as error:
            logger.warning("model %s cannot be loaded: %s", ref, error.message)
            return dialect.error_frame(seq, dialect.MODEL_FAILED), False
        if entry is None:
            return dialect.error_frame(seq, dialect.MODEL_NOT_FOUND), False
        rows = dialect.rows_of(request.points, entry.meta.features)
        if isinstance(rows, str):
            return dialect.error_frame(seq, rows), False
        predictor = entry.predictor
        try:
            if runs_inline(predictor, len(rows)):
                values = predictor.predict(rows)
            else:
                values = await asyncio.to_thread(predictor.predict, rows)
        except Exception:
            logger.exception("model %s failed to predict", ref)
            return dialect.error_frame(seq, dialect.MODEL_FAILED), False
        version = entry.meta.version
        new = self._versions.get(ref) != version
        self._versions[ref] = version
        self.predictions += 1
        return dialect.success_frame(seq, new=new, predictions=values), True

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """Close with ``code`` (``retry`` has no signal of its own on this wire)."""
        if self.closed:
            return
        self.closed = True
        try:
            await self._websocket.close(code, reason)
        except Exception:  # the peer may be gone already
            logger.debug("close of %s failed", self.id, exc_info=True)


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
        service=service, websocket=websocket, principal=admission.principal, key=key
    )
    service.connections[connection.id] = connection
    try:
        async with admission.opened(connection):
            await connection.run()
    except (OSError, RuntimeError):  # peer gone or socket closed while we wrote
        logger.debug("connection %s: peer gone", connection.id)
    finally:
        connection.closed = True
        service.connections.pop(connection.id, None)
