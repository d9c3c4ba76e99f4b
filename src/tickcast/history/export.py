"""History rows as typed columns, one row per event (sans-I/O; ``parquet.py`` writes them).

Columns: ``stream``, ``epoch``, ``seq``, ``time`` (the row's time: event time, a candle's start),
``recv_time`` (when the sequencing node stored it), ``type`` (the event class), then the fields
of every event type the exported streams carry, by name (``time_ns`` is the event's own time).
Prices and sizes stay scaled integers, as in the store and the bus codec; enums are their string
values; book levels are ``[[price, size], ...]``. A field an event does not have is null.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from enum import Enum
from typing import Any

from tickcast.history.rows import Row
from tickcast.model import (
    AssetMetric,
    BookSnapshot,
    Candle,
    Order,
    Position,
    Prediction,
    Quote,
    StreamKind,
    Ticker,
    Trade,
)

KIND_TYPES: dict[str, type[Any]] = {
    StreamKind.TRADES: Trade,
    StreamKind.BOOK: BookSnapshot,  # BookDelta has the same fields
    StreamKind.QUOTES: Quote,
    StreamKind.CANDLES: Candle,
    StreamKind.TICKER: Ticker,
    StreamKind.METRICS: AssetMetric,
    StreamKind.ORDERS: Order,
    StreamKind.POSITIONS: Position,
    StreamKind.PREDICTIONS: Prediction,
}
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("stream", "str"), ("epoch", "str"), ("seq", "int"), ("time", "time"),
    ("recv_time", "time"), ("type", "str"),
)  # fmt: skip
"""Column name and kind (``str``, ``int``, ``time``, ``levels``, ``pairs``) of every row."""


def _kind(annotation: str) -> str:
    if "Level" in annotation:
        return "levels"
    if annotation.startswith("tuple[tuple[str, str]"):
        return "pairs"
    if annotation.startswith("int"):
        return "int"
    return "str"  # str, str | None, and the StrEnums


def columns_for(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """The columns of an export of streams of these kinds, in a stable order."""
    columns = dict(ROW_COLUMNS)
    for kind in sorted(set(kinds)):
        for field in dataclasses.fields(KIND_TYPES[kind]):
            columns.setdefault(field.name, _kind(str(field.type)))
    return list(columns.items())


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def to_columns(rows: Iterable[Row], columns: list[tuple[str, str]]) -> dict[str, list[object]]:
    """The rows as one list per column (null where an event lacks the field)."""
    names = [name for name, _ in columns]
    out: dict[str, list[object]] = {name: [] for name in names}
    for row in rows:
        event = row.event
        values: dict[str, object] = {
            "stream": row.stream, "epoch": row.epoch, "seq": row.seq, "time": row.time_ns,
            "recv_time": row.recv_ns, "type": type(event).__name__,
        }  # fmt: skip
        for field in dataclasses.fields(event):
            values[field.name] = _plain(getattr(event, field.name))
        for name in names:
            out[name].append(values.get(name))
    return out
