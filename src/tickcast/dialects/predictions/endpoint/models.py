"""Control-plane routes of predictions: models, live attachments, ``/ws`` connections.

A key acts on its own user's models; an admin key may name another user with ``?user=`` (and
lists every user's models and connections by default). Managing models needs a plan with
``predictions = true`` or the ``predictions-ws`` feature.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from tickcast.dialects.predictions.endpoint.live import AttachError
from tickcast.dialects.predictions.wire.protocol import FEATURE
from tickcast.model.events import Event
from tickcast.model.names import check_id, check_path_name, check_user_name
from tickcast.model.streams import StreamKey, StreamKind
from tickcast.predict.features import FeatureComputer, labelled_rows, parse_features
from tickcast.predict.spec import DEFAULT_ALGORITHM, ModelError, ModelMeta, ModelRef
from tickcast.predict.training import Table, table_from_csv, table_from_rows
from tickcast.server import openapi
from tickcast.server.control.auth import ADMIN_PLAN, node_of, principal
from tickcast.server.control.schemas import ApiError
from tickcast.server.http_limits import MODELS_MAX_BODY_BYTES
from tickcast.server.services import services_of
from tickcast.storage.base import Principal

router = APIRouter(tags=["predictions"], generate_unique_id_function=openapi.operation_id)
Caller = Annotated[Principal, Depends(principal)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "Invalid input (status_code 1003)"},
    401: {"model": ApiError, "description": "Missing, unknown or revoked key"},
    403: {"model": ApiError, "description": "The key's plan does not allow this"},
    404: {"model": ApiError, "description": "No such model or connection"},
}
MAX_CSV_CHARS = 64 * 1024 * 1024
MAX_UPLOAD_BYTES = MODELS_MAX_BODY_BYTES


class TrainIn(BaseModel):
    """Training data: ``csv`` (text with a header row) or ``rows`` (JSON objects)."""

    strategy: str
    name: str
    type: str = Field(description="class or reg")
    target: str = Field(description="the target column; every other column is a feature")
    algorithm: str = DEFAULT_ALGORITHM
    csv: str | None = None
    rows: list[dict[str, Any]] | None = None
    seed: int = 0


class TrainFromMarketIn(BaseModel):
    """Training from the node's recorded events of a market (its bus history)."""

    strategy: str
    name: str
    type: str
    market: str
    features: list[str] = Field(description="live feature names (docs/predictions.md)")
    horizon_s: float = Field(gt=0, description="seconds ahead the target return looks")
    flat_below: float = Field(default=0.0, ge=0, description="class: |return| <= this is flat")
    algorithm: str = DEFAULT_ALGORITHM
    seed: int = 0


class AttachIn(BaseModel):
    strategy: str
    name: str
    type: str
    market: str
    interval_ms: int = Field(default=1000, ge=0, le=86_400_000)


def _fail(status: int, message: str) -> HTTPException:
    code = {403: 1007, 404: 1001, 409: 1003}.get(status, 1003)
    return HTTPException(status, {"status_code": code, "message": message})


def _user_of(caller: Principal, user: str | None) -> str:
    """The user a request acts for: the caller's own, or any for an admin."""
    if not (caller.plan.predictions or caller.plan.allows_feed(FEATURE)):
        raise _fail(403, "Plan does not include predictions")
    if user is None or user == caller.user:
        return caller.user
    check_user_name(user)
    if caller.plan.name != ADMIN_PLAN:
        raise _fail(403, "You are missing privileges")
    return user


def _ref(user: str, strategy: str, name: str, model_type: str) -> ModelRef:
    try:
        return ModelRef.checked(user, strategy, name, model_type)
    except ModelError as error:
        raise _fail(400, error.message) from None


def _service(request: Request) -> Any:
    from tickcast.dialects.predictions.endpoint.service import PredictionService

    return services_of(request.app).service(PredictionService)


async def _train(
    request: Request, table: Table, ref: ModelRef, body: Any, source: str
) -> ModelMeta:
    service = _service(request)
    service.training_pool()
    try:
        stored: ModelMeta = await service.registry.train(
            table, ref, algorithm=body.algorithm, seed=body.seed, source=source
        )
    except ModelError as error:
        raise _fail(400, error.message) from None
    return stored


@router.get(
    "/ws",
    name="predictions_websocket",
    status_code=101,
    responses={
        101: {"description": "Switching Protocols: the /ws prediction protocol follows"},
        400: {"model": ApiError, "description": "Not a WebSocket upgrade"},
    },
)
async def predictions_ws_http() -> JSONResponse:
    """The WebSocket prediction service (docs/predictions.md): send the raw API key as the first
    text frame, then requests `{"api_key","strat_name","model_name","model_type","DataPoints"}`;
    each gets one reply, in order, with `seq_num`. Needs a WebSocket upgrade."""
    body = {"status_code": 1003, "message": "No WebSocket UPGRADE header found"}
    return JSONResponse(body, status_code=400)


@router.post("/api/v1/models", status_code=201, responses=_ERRORS)
async def train_model(
    request: Request, body: TrainIn, caller: Caller, user: str | None = None
) -> dict[str, Any]:
    """Train a model (a new version if it exists) from CSV text or JSON rows."""
    ref = _ref(_user_of(caller, user), body.strategy, body.name, body.type)
    if (body.csv is None) == (body.rows is None):
        raise _fail(400, "give exactly one of csv and rows")
    try:
        if body.csv is not None:
            if len(body.csv) > MAX_CSV_CHARS:
                raise ModelError("CSV too large")
            table = await asyncio.to_thread(table_from_csv, body.csv, body.target)
            source = "csv"
        else:
            table = await asyncio.to_thread(table_from_rows, body.rows or [], body.target)
            source = "json"
    except ModelError as error:
        raise _fail(400, error.message) from None
    return (await _train(request, table, ref, body, source)).as_dict()


@router.post("/api/v1/models/from-market", status_code=201, responses=_ERRORS)
async def train_from_market(
    request: Request, body: TrainFromMarketIn, caller: Caller, user: str | None = None
) -> dict[str, Any]:
    """Train on live features computed over the node's recorded events of a market."""
    ref = _ref(_user_of(caller, user), body.strategy, body.name, body.type)
    node = node_of(request)
    if body.market not in node.catalog:
        raise _fail(404, f"unknown market {body.market!r}")
    try:
        features = parse_features(body.features)
        if not features:
            raise ModelError("give at least one feature")
    except ModelError as error:
        raise _fail(400, error.message) from None
    events: list[Event] = []
    for kind in (StreamKind.TRADES, StreamKind.QUOTES, StreamKind.BOOK):
        stream = str(StreamKey(kind, body.market))
        events.extend(envelope.event for envelope in await node.bus.history(stream))
    market = node.catalog.get(body.market)
    computer = FeatureComputer(body.market, features, size_decimals=market.size_decimals)
    rows = await asyncio.to_thread(  # CPU work over up to the whole history: off the loop
        functools.partial(
            labelled_rows,
            events,
            computer,
            horizon_s=body.horizon_s,
            model_type=ref.type,
            flat_below=body.flat_below,
        )
    )
    try:
        table = table_from_rows(rows, "target")
    except ModelError as error:
        raise _fail(400, f"not enough recorded data: {error.message}") from None
    return (await _train(request, table, ref, body, f"market:{body.market}")).as_dict()


@router.post("/api/v1/models/import", status_code=201, responses=_ERRORS)
async def import_model(
    request: Request,
    caller: Caller,
    strategy: str,
    name: str,
    type: str,
    features: Annotated[str, Query(description="feature names in order, comma-separated")],
    user: str | None = None,
) -> dict[str, Any]:
    """Store an uploaded skops file (request body) as a model. Only skops files whose types are
    all trusted and whose object is a supported estimator are accepted; pickles are refused."""
    ref = _ref(_user_of(caller, user), strategy, name, type)
    blob = await request.body()
    if len(blob) > MAX_UPLOAD_BYTES:
        raise _fail(400, "model file too large")
    names = tuple(part.strip() for part in features.split(",") if part.strip())
    try:
        stored = await _service(request).registry.import_blob(ref, blob, features=names)
    except ModelError as error:
        raise _fail(400, error.message) from None
    result: dict[str, Any] = stored.as_dict()
    return result


@router.get("/api/v1/models", responses=_ERRORS)
async def list_models(
    request: Request, caller: Caller, user: str | None = None
) -> list[dict[str, Any]]:
    """The newest version of each model (an admin without ``user`` sees every user's)."""
    if caller.plan.name == ADMIN_PLAN and user is None:
        owner = None
    else:
        owner = _user_of(caller, user)
    return [meta.as_dict() for meta in await _service(request).registry.repository.list(owner)]


@router.get("/api/v1/models/{strategy}/{type}/{name}", responses=_ERRORS)
async def show_model(
    request: Request, strategy: str, type: str, name: str, caller: Caller, user: str | None = None
) -> dict[str, Any]:
    """The newest version's metadata (with held-out metrics) and every version."""
    ref = _ref(_user_of(caller, user), strategy, name, type)
    versions = await _service(request).registry.repository.versions(ref)
    if not versions:
        raise _fail(404, "Model configuration not found in the backend.")
    shown: dict[str, Any] = versions[-1].as_dict()
    shown["versions"] = [
        {"version": v.version, "created_ns": v.created_ns, "rows": v.rows, "metrics": v.metrics}
        for v in versions
    ]
    return shown


@router.delete("/api/v1/models/{strategy}/{type}/{name}", status_code=204, responses=_ERRORS)
async def delete_model(
    request: Request, strategy: str, type: str, name: str, caller: Caller, user: str | None = None
) -> Response:
    ref = _ref(_user_of(caller, user), strategy, name, type)
    service = _service(request)
    if not await service.registry.delete(ref):
        raise _fail(404, "Model configuration not found in the backend.")
    service.live.detach(ref.user, ref.strategy, ref.name)
    return Response(status_code=204)


@router.get("/api/v1/predictions/live", responses=_ERRORS)
async def list_live(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """Models attached to markets (an admin sees all)."""
    attachments = _service(request).live.attachments.values()
    admin = caller.plan.name == ADMIN_PLAN
    return [a.info() for a in attachments if admin or a.ref.user == caller.user]


@router.post("/api/v1/predictions/live", status_code=201, responses=_ERRORS)
async def attach_live(
    request: Request, body: AttachIn, caller: Caller, user: str | None = None
) -> dict[str, Any]:
    """Attach a model to a market: its predictions go to ``predictions:<strategy>:<name>``."""
    ref = _ref(_user_of(caller, user), body.strategy, body.name, body.type)
    try:
        attachment = await _service(request).live.attach(
            ref, body.market, interval_ms=body.interval_ms
        )
    except AttachError as error:
        raise _fail(error.status, error.message) from None
    except ModelError as error:
        raise _fail(400, error.message) from None
    result: dict[str, Any] = attachment.info()
    return result


@router.delete("/api/v1/predictions/live/{strategy}/{name}", status_code=204, responses=_ERRORS)
async def detach_live(request: Request, strategy: str, name: str, caller: Caller) -> Response:
    user = None if caller.plan.name == ADMIN_PLAN else caller.user
    check_path_name("strategy", strategy)
    check_path_name("model name", name)
    if not _service(request).live.detach(user, strategy, name):
        raise _fail(404, "Not found")
    return Response(status_code=204)


@router.get("/api/v1/predictions/connections", responses=_ERRORS)
async def list_prediction_connections(request: Request, caller: Caller) -> list[dict[str, object]]:
    """Open ``/ws`` connections with usage (requests, connection-seconds); an admin sees all,
    other keys their user's."""
    admin = caller.plan.name == ADMIN_PLAN
    return [
        c.info()
        for c in _service(request).connections.values()
        if admin or c.principal.user == caller.user
    ]


@router.delete(
    "/api/v1/predictions/connections/{connection_id}", status_code=204, responses=_ERRORS
)
async def close_prediction_connection(
    request: Request, connection_id: str, caller: Caller
) -> Response:
    """Close a ``/ws`` connection (close code 1008, reason "closed by operator")."""
    connection = _service(request).connections.get(check_id("connection id", connection_id))
    admin = caller.plan.name == ADMIN_PLAN
    if connection is None or not (admin or connection.principal.user == caller.user):
        raise _fail(404, "Not found")
    await connection.close(1008, "closed by operator", retry=False)
    return Response(status_code=204)
