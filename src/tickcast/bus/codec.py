"""Events as compact JSON for a shared bus: ``[tag, field, field, ...]`` in dataclass field order.

Only plain data crosses the wire (no pickle), so a bus backend shared by several nodes can never
run code. Levels and feature pairs become nested lists; enums their string values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import orjson

from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Event,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Prediction,
    Quote,
    Side,
    Ticker,
    Trade,
    TradesGap,
)

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Trade,
        BookSnapshot,
        BookDelta,
        Quote,
        Candle,
        Ticker,
        AssetMetric,
        Order,
        Position,
        Prediction,
        TradesGap,  # issue 16: a venue-side trade loss
    )
}


def _pairs(value: Any) -> tuple[tuple[Any, Any], ...]:
    return tuple((item[0], item[1]) for item in value)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "side": Side,
    "type": OrderType,
    "status": OrderStatus,
    "bids": _pairs,
    "asks": _pairs,
    "features": _pairs,
}
_FIELDS: dict[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {
    name: tuple((f.name, _CONVERT.get(f.name)) for f in dataclasses.fields(cls))
    for name, cls in _TYPES.items()
}


_GETTERS: dict[type[Any], tuple[str, Callable[[Any], tuple[Any, ...]]]] = {
    cls: (name, attrgetter(*(f.name for f in dataclasses.fields(cls))))
    for name, cls in _TYPES.items()
}
"""Per event class: its tag and a getter of every field (each class has at least two)."""


def encode_event(event: Event) -> bytes:
    """The event as ``[tag, *fields]`` JSON."""
    tag, values = _GETTERS[type(event)]
    return orjson.dumps([tag, *values(event)])


def decode_event(data: bytes | str) -> Event:
    """The inverse of :func:`encode_event`; ValueError on anything else."""
    try:
        tag, *values = orjson.loads(data)
        fields = _FIELDS[tag]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError("not an encoded event") from None
    if len(values) != len(fields):
        raise ValueError(f"{tag}: expected {len(fields)} fields, got {len(values)}")
    kwargs = {
        name: (convert(value) if convert is not None and value is not None else value)
        for (name, convert), value in zip(fields, values, strict=True)
    }
    event: Event = _TYPES[tag](**kwargs)
    return event
