"""Control-plane routes: catalogue, streams, users and keys, connections, usage, publish."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.responses import JSONResponse

from tickcast.errors import ConfigError, InvalidMessage
from tickcast.model import Event, Market, MarketCatalog, format_fixed
from tickcast.model.names import check_id, check_user_name
from tickcast.server.control.auth import admin, node_of, principal
from tickcast.server.control.schemas import (
    ApiError,
    ConnectionOut,
    ConnectorOut,
    KeyCreated,
    KeyIn,
    KeyOut,
    MarketOut,
    PlanOut,
    PublishIn,
    PublishOut,
    StreamOut,
    UsageOut,
    UserIn,
    UserOut,
)
from tickcast.sources.publish import parse_batch
from tickcast.storage.base import Principal

router = APIRouter()
Admin = Annotated[Principal, Depends(admin)]
Caller = Annotated[Principal, Depends(principal)]
_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ApiError, "description": "Missing, unknown or revoked key"},
    403: {"model": ApiError, "description": "The key's plan does not allow this"},
}


@router.get("/healthz", tags=["health"])
async def healthz(request: Request) -> Response:
    """200 once the node is ready, 503 before and while stopping; with live venue connectors,
    each one's state and counters under ``connectors`` (docs/connectors.md)."""
    node = node_of(request)
    ready = node.ready
    body: dict[str, object] = {"status": "ok" if ready else "starting"}
    if node.connectors:
        body["connectors"] = {health.name: health.report() for health in node.connectors}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(node_of(request).metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/api/v1/markets", name="list_markets", tags=["catalogue"])
async def markets(request: Request) -> list[MarketOut]:
    """Every market this node serves, with its number formats."""
    return [
        MarketOut(
            id=m.id,
            exchange=m.exchange,
            kind=m.kind.value,
            base=m.base,
            quote=m.quote,
            symbol=m.symbol,
            price_decimals=m.price_decimals,
            size_decimals=m.size_decimals,
            tick=format_fixed(m.tick, m.price_decimals),
            lot=format_fixed(m.lot, m.size_decimals),
        )
        for m in node_of(request).catalog
    ]


@router.get("/api/v1/streams", name="list_streams", tags=["catalogue"])
async def streams(request: Request) -> list[StreamOut]:
    """Streams that carried at least one event, with their current position."""
    node = node_of(request)
    result = []
    for stream in node.bus.streams():
        position = await node.bus.position(stream)
        result.append(StreamOut(stream=stream, epoch=position.epoch, seq=position.seq))
    return result


@router.get("/api/v1/plans", name="list_plans", tags=["catalogue"])
async def plans(request: Request) -> list[PlanOut]:
    """The configured plans and what each grants."""
    return [PlanOut(name=p.name, grants=p.as_dict()) for p in node_of(request).plans.values()]


@router.get("/api/v1/users", tags=["admin"], responses=_AUTH_ERRORS)
async def list_users(request: Request, _: Admin) -> list[UserOut]:
    users = await node_of(request).store.list_users()
    return [UserOut(name=u.name, plan=u.plan, created_ns=u.created_ns) for u in users]


@router.post("/api/v1/users", tags=["admin"], status_code=201, responses=_AUTH_ERRORS)
async def create_user(request: Request, body: UserIn, _: Admin) -> UserOut:
    try:
        user = await node_of(request).store.create_user(body.name, body.plan)
    except ConfigError as error:
        raise HTTPException(400, {"status_code": 1003, "message": error.message}) from None
    return UserOut(name=user.name, plan=user.plan, created_ns=user.created_ns)


@router.post("/api/v1/keys", tags=["admin"], status_code=201, responses=_AUTH_ERRORS)
async def create_key(request: Request, body: KeyIn, _: Admin) -> KeyCreated:
    """Create a key for an existing user. The key is in this response only."""
    store = node_of(request).store
    try:
        key, record = await store.create_key(
            user=body.user, prefix=body.prefix, plan=body.plan, scopes=frozenset(body.scopes)
        )
    except ConfigError as error:
        raise HTTPException(400, {"status_code": 1003, "message": error.message}) from None
    return KeyCreated(key=key, key_id=record.key_id)


@router.get("/api/v1/keys", tags=["admin"], responses=_AUTH_ERRORS)
async def list_keys(request: Request, _: Admin, user: str | None = None) -> list[KeyOut]:
    records = await node_of(request).store.list_keys(
        None if user is None else check_user_name(user)
    )
    return [
        KeyOut(
            key_id=r.key_id,
            user=r.user,
            prefix=r.prefix,
            plan=r.plan,
            scopes=sorted(r.scopes),
            created_ns=r.created_ns,
            revoked=r.revoked,
            test=r.test,
        )
        for r in records
    ]


@router.delete("/api/v1/keys/{key_id}", tags=["admin"], status_code=204, responses=_AUTH_ERRORS)
async def revoke_key(request: Request, key_id: str, _: Admin) -> Response:
    if not await node_of(request).store.revoke_key(check_id("key id", key_id)):
        raise HTTPException(404, {"status_code": 1001, "message": "Not found"})
    return Response(status_code=204)


@router.get("/api/v1/connections", tags=["admin"], responses=_AUTH_ERRORS)
async def list_connections(request: Request, _: Admin) -> list[ConnectionOut]:
    node = node_of(request)
    return [ConnectionOut.model_validate(c.info()) for c in node.connections.values()]


@router.get("/api/v1/connectors", tags=["admin"], responses=_AUTH_ERRORS)
async def list_connectors(request: Request, _: Admin) -> list[ConnectorOut]:
    """The live venue connectors of this node and their health (docs/connectors.md)."""
    return [
        ConnectorOut.model_validate({"name": health.name, **health.report()})
        for health in node_of(request).connectors
    ]


@router.delete(
    "/api/v1/connections/{connection_id}",
    tags=["admin"],
    status_code=204,
    responses=_AUTH_ERRORS,
)
async def close_connection(request: Request, connection_id: str, _: Admin) -> Response:
    """Close one live connection (close code 1008, reason "closed by operator")."""
    connection = node_of(request).connections.get(check_id("connection id", connection_id))
    if connection is None:
        raise HTTPException(404, {"status_code": 1001, "message": "Not found"})
    await connection.close(1008, "closed by operator", retry=False)
    return Response(status_code=204)


@router.get("/api/v1/usage", name="get_usage", tags=["usage"], responses=_AUTH_ERRORS)
async def usage(request: Request, caller: Caller, key_id: str | None = None) -> list[UsageOut]:
    """Usage per key (flushed every few seconds). Non-admin keys see only themselves."""
    node = node_of(request)
    if caller.plan.name != "admin":
        key_id = caller.key_id
    elif key_id is not None:
        check_id("key id", key_id)
    await node.flush_usage()
    totals = await node.store.usage(key_id)
    return [UsageOut(key_id=k, **dataclasses.asdict(u)) for k, u in sorted(totals.items())]


def _decode_batch(
    body: bytes, catalog: MarketCatalog, now_ns: int
) -> tuple[list[Market], list[Event]]:
    """Decode and validate a publish body (runs in a worker thread)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidMessage("Invalid request: body: JSON decode error") from None
    return parse_batch(decoded, catalog, now_ns=now_ns)


_PUBLISH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PublishIn.model_json_schema()}},
    }
}


@router.post(
    "/api/v1/publish",
    tags=["publish"],
    responses=_AUTH_ERRORS | {400: {"model": ApiError}, 413: {"model": ApiError}},
    openapi_extra=_PUBLISH_BODY,
)
async def publish(request: Request, caller: Caller) -> PublishOut:
    """Publish a batch of normalised events; they reach every dialect like simulated ones.

    The key is checked before the body is read; the body is decoded and validated in a worker
    thread, so a large batch does not stall the event loop (docs/publish.md)."""
    node = node_of(request)
    if not caller.can_publish:
        raise HTTPException(403, {"status_code": 1007, "message": "You are missing privileges"})
    body = await request.body()
    scratch = MarketCatalog(node.catalog)  # copied on the loop: the thread never sees it change
    try:
        markets, events = await asyncio.to_thread(
            _decode_batch, body, scratch, node.clock.time_ns()
        )
    except InvalidMessage as error:
        raise HTTPException(400, {"status_code": 1003, "message": error.message}) from None
    for market in markets:
        node.catalog.add(market)
    envelopes = await node.publish_envelopes(events)
    last: dict[str, StreamOut] = {}
    for envelope in envelopes:
        last[envelope.stream] = StreamOut(
            stream=envelope.stream, epoch=envelope.epoch, seq=envelope.seq
        )
    return PublishOut(accepted=len(events), streams=list(last.values()))
