"""Current state of STATE streams as a flat field → value map, so a shared bus can keep it.

The ingest side turns each STATE event into an :class:`Ops` (reset the map or not, then set or
delete fields) and the bus applies it atomically with the event's seq. A gateway that starts late
reads the map and its seq together and turns it back into events with :func:`events_from_fields`;
folded into a StateKeeper they give exactly the state after that seq.

Fields: books ``b<price>`` / ``a<price>`` → size and ``m`` → ``[market, time_ns]``; quotes and
tickers ``v`` → the event; metrics ``metric:<name>``, open orders ``order:<id>`` and positions
``party:<id>`` → the event. Values are :mod:`tickcast.bus.codec` JSON or decimal integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from tickcast.bus.codec import decode_event, encode_event
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Event,
    Order,
    OrderStatus,
    Position,
    Quote,
    Ticker,
)

_FINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


@dataclass(frozen=True, slots=True)
class Ops:
    reset: bool
    changes: tuple[tuple[str, str | None], ...]
    """(field, value); None deletes the field."""

    def to_json(self) -> bytes:
        """``[reset, field, value, ...]`` with ``false`` for a deletion (read by the Lua script)."""
        flat: list[object] = [1 if self.reset else 0]
        for name, value in self.changes:
            flat.append(name)
            flat.append(value if value is not None else False)
        return orjson.dumps(flat)


def _levels(side: str, levels: tuple[tuple[int, int], ...]) -> list[tuple[str, str | None]]:
    return [(f"{side}{price}", str(size) if size else None) for price, size in levels]


def state_ops(event: Event) -> Ops | None:
    """How ``event`` changes its stream's state map; None for EVENT-stream events."""
    match event:
        case BookSnapshot():
            meta = orjson.dumps([event.market, event.time_ns]).decode()
            changes = [("m", meta), *_levels("b", event.bids), *_levels("a", event.asks)]
            return Ops(True, tuple((k, v) for k, v in changes if v is not None))
        case BookDelta():
            meta = orjson.dumps([event.market, event.time_ns]).decode()
            return Ops(False, (("m", meta), *_levels("b", event.bids), *_levels("a", event.asks)))
        case Quote() | Ticker():
            return Ops(True, (("v", encode_event(event).decode()),))
        case AssetMetric():
            return Ops(False, ((f"metric:{event.metric}", encode_event(event).decode()),))
        case Order():
            value = None if event.status in _FINAL else encode_event(event).decode()
            return Ops(False, ((f"order:{event.id}", value),))
        case Position():
            return Ops(False, ((f"party:{event.party}", encode_event(event).decode()),))
    return None


def ops_json(event: Event) -> bytes:
    """``state_ops(event).to_json()``, or ``b""`` for an EVENT-stream event; a book delta (the
    commonest STATE event) is written straight to JSON without building its ``Ops``."""
    if type(event) is BookDelta:
        flat: list[object] = [0, "m", orjson.dumps([event.market, event.time_ns]).decode()]
        for side, levels in (("b", event.bids), ("a", event.asks)):
            for price, size in levels:
                flat.append(f"{side}{price}")
                flat.append(str(size) if size else False)
        return orjson.dumps(flat)
    ops = state_ops(event)
    return ops.to_json() if ops is not None else b""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def events_from_fields(fields: Mapping[bytes | str, bytes | str]) -> list[Event]:
    """The events that rebuild a state map: one full BookSnapshot for a book, else each value."""
    items = {_text(k): _text(v) for k, v in fields.items()}
    meta = items.pop("m", None)
    if meta is not None:
        market, time_ns = orjson.loads(meta)
        bids = sorted(((int(k[1:]), int(v)) for k, v in items.items() if k[0] == "b"), reverse=True)
        asks = sorted((int(k[1:]), int(v)) for k, v in items.items() if k[0] == "a")
        return [BookSnapshot(market, tuple(bids), tuple(asks), int(time_ns))]
    events = [decode_event(value) for value in items.values()]
    events.sort(key=lambda event: event.time_ns)
    return events
