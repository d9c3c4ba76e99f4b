"""Request and response bodies of the control plane (pydantic, for the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ApiError(BaseModel):
    status_code: int = Field(description="tickcast error code (see docs/errors.md)")
    message: str


class MarketOut(BaseModel):
    id: str
    exchange: str
    kind: str
    base: str
    quote: str
    symbol: str
    price_decimals: int
    size_decimals: int
    tick: str
    lot: str


class StreamOut(BaseModel):
    stream: str
    epoch: str
    seq: int


class UserIn(BaseModel):
    name: str
    plan: str


class UserOut(BaseModel):
    name: str
    plan: str
    created_ns: int


class KeyIn(BaseModel):
    user: str
    plan: str | None = None
    prefix: str = "tc_live_"
    scopes: list[str] = []


class KeyCreated(BaseModel):
    key: str = Field(description="The API key. Shown once; only its hash is stored.")
    key_id: str


class KeyOut(BaseModel):
    key_id: str
    user: str
    prefix: str
    plan: str | None
    scopes: list[str]
    created_ns: int
    revoked: bool
    test: bool


class UsageOut(BaseModel):
    key_id: str
    connections: int
    connection_seconds: float
    messages: int
    bytes: int
    predictions: int


class ConnectionOut(BaseModel):
    id: str
    dialect: str
    user: str
    key_id: str
    remote: str
    opened_at: float
    subscriptions: list[str]
    pending_bytes: int
    messages: int
    bytes: int


class ConnectorOut(BaseModel):
    """A live venue connector's health (docs/connectors.md, "Health and metrics")."""

    name: str
    state: str
    """``live`` (every connection open and receiving), ``degraded`` (some) or ``down``."""
    connections: int
    live: int
    messages: int
    reconnects: int
    resyncs: int
    trade_gaps: int
    trades_backfilled: int
    snapshots: int
    last_message_ns: int | None
    last_error: str | None


class PublishIn(BaseModel):
    """A batch of normalised events (docs/publish.md)."""

    markets: list[dict[str, Any]] | None = Field(
        default=None, description="Markets to declare: {id, price_decimals, size_decimals}"
    )
    events: list[dict[str, Any]] = Field(
        description="Events: trade, book_snapshot, book_delta, quote, ticker, metric"
    )


class PublishOut(BaseModel):
    accepted: int
    streams: list[StreamOut]


class PlanOut(BaseModel):
    name: str
    grants: dict[str, Any]
