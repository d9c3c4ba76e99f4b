"""What a connection's consumer task takes from its queue, in arrival order (``runner.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.model.events import Trade
from tickcast.sources.connectors.protocol import TradesLost


@dataclass(frozen=True, slots=True)
class Message:
    data: str | bytes
    recv_ns: int


@dataclass(frozen=True, slots=True)
class Rest:
    request_id: str
    body: bytes
    recv_ns: int


@dataclass(frozen=True, slots=True)
class Backfill:
    lost: TradesLost
    trades: tuple[Trade, ...] | None
    """None: the request failed."""


@dataclass(frozen=True, slots=True)
class Tick:
    pass


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str


Input = Message | Rest | Backfill | Tick | Closed
