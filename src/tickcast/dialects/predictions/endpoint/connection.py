"""One authenticated ``/ws`` connection: requests answered in order (docs/predictions.md).

Trees, forests and linear models predict on the event loop (microseconds) unless a request
needs more than ``INLINE_TREE_WALKS`` tree walks; those, gradient boosting and k-NN run in a
worker thread. Under tickcast's protocol the connection is detached after the key (no task per
idle connection, docs/performance.md); elsewhere ``run`` reads and answers in the ASGI task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from tickcast.dialects.predictions.wire import protocol as dialect
from tickcast.dialects.predictions.wire.protocol import PredictionSession, PredictRequest, Reply
from tickcast.errors import TickcastError
from tickcast.predict.inference import runs_inline
from tickcast.predict.registry import LoadedModel
from tickcast.predict.spec import ModelError, ModelRef
from tickcast.server.connections import Lease, connection_info
from tickcast.server.seam import (
    FrameWriter,
    ProtocolSink,
    detach,
    frame_batch,
    frame_writer,
    incoming,
    sink_of,
)
from tickcast.storage.base import Principal

if TYPE_CHECKING:
    from tickcast.dialects.predictions.endpoint.service import PredictionService

logger = logging.getLogger("tickcast.server")
_ids = itertools.count(1)
MAX_REFS = 1_000
"""Validated model references a connection remembers."""
WRITE_PAUSE = 65_536
"""Unsent reply bytes beyond which a detached connection stops reading requests."""


class PredictionConnection:
    """One authenticated ``/ws`` connection (a ``LiveConnection`` of the node).

    Two ways to run, same frames on the wire: **detached** (tickcast's uvicorn protocol, the
    normal case: no task, ASGI frames or receive queue per idle connection; requests arrive
    through ``on_message`` and are answered at once when the model is cached and predicts
    inline, else by a short task that keeps their order) and **task-based** (``run``: any other
    ASGI server)."""

    dialect = dialect.FEATURE
    __slots__ = (
        "_inbox",
        "_lease",
        "_opened_mono",
        "_refs",
        "_sink",
        "_task",
        "_versions",
        "_websocket",
        "_write",
        "bytes",
        "closed",
        "id",
        "messages",
        "opened_at",
        "predictions",
        "principal",
        "remote",
        "service",
        "session",
    )

    def __init__(
        self, *, service: PredictionService, websocket: WebSocket, principal: Principal, key: str
    ) -> None:
        self.id = f"p{next(_ids)}"
        self.service = service
        self.principal = principal
        self.session = PredictionSession(key)
        self._websocket: WebSocket | None = websocket
        self._sink: ProtocolSink | None = sink_of(websocket.scope)
        self._write: FrameWriter | None = frame_writer(websocket)
        client = websocket.client
        self.remote = f"{client.host}:{client.port}" if client else "?"
        self.opened_at = time.time()
        self._opened_mono = time.monotonic()
        self.messages = 0
        self.bytes = 0
        self.predictions = 0
        self.closed = False
        self._versions: dict[ModelRef, int] | None = None
        """Model versions this connection has used (for the "New model configuration" reply)."""
        self._refs: dict[tuple[str, str, str], ModelRef] | None = None
        """Validated model references by request names (skips re-validating on every request)."""
        self._lease: Lease | None = None
        self._inbox: list[str | bytes] | None = None
        """Requests waiting while an earlier one is answered (detached mode)."""
        self._task: asyncio.Task[None] | None = None

    @property
    def detachable(self) -> bool:
        return self._sink is not None

    @property
    def requests(self) -> int:
        return self.session.requests

    def connection_seconds(self) -> float:
        return max(0.0, time.monotonic() - self._opened_mono)

    def info(self) -> dict[str, object]:
        subscriptions = [
            f"model:{ref.strategy}:{ref.type}:{ref.name}" for ref in sorted(self._versions or ())
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
        assert self._write is not None
        await self._write([frame])
        self._sent(frame, prediction)

    def _sent(self, frame: bytes, prediction: bool) -> None:
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
        assert websocket is not None
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
        ref = self._ref(request)
        if isinstance(ref, bytes):
            return ref, False
        registry = self.service.registry
        try:
            entry = registry.cached(ref) or await registry.load(ref)
        except TickcastError as error:
            logger.warning("model %s cannot be loaded: %s", ref, error.message)
            return dialect.error_frame(request.seq, dialect.MODEL_FAILED), False
        if entry is None:
            return dialect.error_frame(request.seq, dialect.MODEL_NOT_FOUND), False
        rows = dialect.rows_of(request.points, entry.meta.features)
        if isinstance(rows, str):
            return dialect.error_frame(request.seq, rows), False
        predictor = entry.predictor
        try:
            if runs_inline(predictor, len(rows)):
                values = predictor.predict(rows)
            else:
                values = await asyncio.to_thread(predictor.predict, rows)
        except Exception:
            logger.exception("model %s failed to predict", ref)
            return dialect.error_frame(request.seq, dialect.MODEL_FAILED), False
        return self._success(request, ref, entry, values), True

    def answer_now(self, request: PredictRequest) -> tuple[bytes, bool] | None:
        """The reply when it needs no waiting (a cached model predicting inline), else None
        (then ``answer``); the same frames as ``answer``."""
        ref = self._ref(request)
        if isinstance(ref, bytes):
            return ref, False
        entry = self.service.registry.cached(ref)
        if entry is None:
            return None
        rows = dialect.rows_of(request.points, entry.meta.features)
        if isinstance(rows, str):
            return dialect.error_frame(request.seq, rows), False
        predictor = entry.predictor
        if not runs_inline(predictor, len(rows)):
            return None
        try:
            values = predictor.predict(rows)
        except Exception:
            logger.exception("model %s failed to predict", ref)
            return dialect.error_frame(request.seq, dialect.MODEL_FAILED), False
        return self._success(request, ref, entry, values), True

    def _ref(self, request: PredictRequest) -> ModelRef | bytes:
        """The request's validated model reference, or its error frame."""
        names = (request.strategy, request.model, request.model_type)
        refs = self._refs
        ref = refs.get(names) if refs is not None else None
        if ref is None:
            try:
                ref = ModelRef.checked(self.principal.user, *names)
            except ModelError:
                return dialect.error_frame(request.seq, dialect.MODEL_NOT_FOUND)
            if refs is None:
                refs = self._refs = {}
            if len(refs) < MAX_REFS:
                refs[names] = ref
        return ref

    def _success(
        self, request: PredictRequest, ref: ModelRef, entry: LoadedModel, values: list[Any]
    ) -> bytes:
        version = entry.meta.version
        versions = self._versions
        if versions is None:
            versions = self._versions = {}
        new = versions.get(ref) != version
        if new:  # one hash of the reference per request otherwise
            versions[ref] = version
        self.predictions += 1
        return dialect.success_frame(request.seq, new=new, predictions=values)

    # -- detached mode ------------------------------------------------------------------

    async def detach(self, lease: Lease) -> None:
        """Hand the connection to the protocol's callbacks; returns at once. ``on_disconnect``
        ends the lease and unregisters."""
        websocket, sink = self._websocket, self._sink
        assert websocket is not None and sink is not None
        self._lease = lease
        self._reply(dialect.VALID_KEY_FRAME, False)
        await detach(websocket, self)
        self._websocket = self._write = None  # both hold the ASGI send (uvicorn's protocol)

    def on_message(self, data: str | bytes) -> None:
        if self.closed:
            return
        if self._task is not None:  # an earlier request is being answered: keep the order
            if self._inbox is None:
                self._inbox = []
            self._inbox.append(data)
            return
        try:
            outcome = self.session.receive(data)
            if isinstance(outcome, Reply):
                self._reply(outcome.frame, False)
                return
            now = self.answer_now(outcome)
        except Exception:  # as in the task: one bad request must not break the protocol
            logger.warning("connection %s: request handling failed", self.id, exc_info=True)
            return
        if now is not None:
            self._reply(*now)
            return
        self._task = asyncio.get_running_loop().create_task(self._answer_in_order(outcome))

    async def _answer_in_order(self, first: PredictRequest) -> None:
        try:
            self._reply(*(await self.answer(first)))
            while self._inbox and not self.closed:
                data = self._inbox.pop(0)
                outcome = self.session.receive(data)
                if isinstance(outcome, Reply):
                    self._reply(outcome.frame, False)
                else:
                    self._reply(*(await self.answer(outcome)))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("connection %s: request handling failed", self.id, exc_info=True)
        finally:
            self._task = None
            self._inbox = None

    def _reply(self, frame: bytes, prediction: bool) -> None:
        sink = self._sink
        assert sink is not None
        if not sink.open:
            return
        sink.write(frame_batch([frame]))
        self._sent(frame, prediction)
        if sink.backlog() > WRITE_PAUSE:  # a client that does not read: stop reading it
            sink.pause_reading()
            sink.on_drain = self._drained

    def _drained(self) -> None:
        sink = self._sink
        if sink is not None:
            sink.on_drain = None
            sink.resume_reading()

    def on_disconnect(self) -> None:
        self.closed = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.service.connections.pop(self.id, None)
        if self._lease is not None:
            self._lease.end()

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        """Close with ``code`` (``retry`` has no signal of its own on this wire)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._websocket is None:  # detached
                assert self._sink is not None
                await self._sink.close(code, reason)
            else:
                await self._websocket.close(code, reason)
        except Exception:  # the peer may be gone already
            logger.debug("close of %s failed", self.id, exc_info=True)
