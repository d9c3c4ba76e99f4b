"""Stream names of events, computed once per (event class, market) rather than per event."""

from __future__ import annotations

from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Event,
    Order,
    Position,
    Quote,
    Trade,
    TradesGap,
    stream_of,
)

_BY_MARKET: frozenset[type] = frozenset(
    {Trade, TradesGap, BookDelta, BookSnapshot, Quote, Order, Position}
)
"""Event classes whose stream is determined by their class and ``market`` alone."""
MAX_CACHED = 65_536
_names: dict[tuple[type, str], str] = {}


def stream_name(event: Event) -> str:
    """``str(stream_of(event))``: the same string, without building a ``StreamKey`` for the
    common events (exact classes; subclasses and other kinds take the general path)."""
    cls = type(event)
    if cls not in _BY_MARKET:
        return str(stream_of(event))
    key = (cls, getattr(event, "market"))  # noqa: B009 (every class in _BY_MARKET has one)
    name = _names.get(key)
    if name is None:
        if len(_names) >= MAX_CACHED:
            _names.clear()
        name = _names[key] = str(stream_of(event))
    return name
