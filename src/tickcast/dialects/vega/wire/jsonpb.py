"""The two JSON renderings of the data-node (protocols README §2.2).

Encoders build messages as plain dicts whose values mark their proto type: :class:`I64` for
int64/uint64 (JSON strings), :class:`Enum` for enums, ``str``/``bool``/``int`` for the rest,
nested dicts for messages and lists for repeated fields. Then:

* :func:`stream` (``/api/v2/stream/*``): enums as integers, zero/empty values omitted
  (``0``, ``""``, ``false``, ``[]``, int64 zero, enum 0); strings such as ``"0"`` are kept;
* :func:`rest` (other ``/api/v2`` routes): enums as names, defaults emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class I64:
    """An int64/uint64 field: a JSON string."""

    value: int


@dataclass(frozen=True, slots=True)
class Enum:
    """An enum field: its number on streams, its name on REST."""

    value: int
    name: str


@dataclass(frozen=True, slots=True)
class Optional:
    """A proto3 ``optional`` field: emitted whenever set, even to zero."""

    value: Any


def _stream_value(value: Any) -> Any:
    match value:
        case Optional():
            inner = value.value
            if isinstance(inner, I64):
                return str(inner.value)
            if isinstance(inner, Enum):
                return inner.value
            return inner
        case I64():
            return str(value.value) if value.value else None
        case Enum():
            return value.value or None
        case dict():
            return stream(value)
        case list():
            items = [_stream_value(item) for item in value]
            return [item for item in items if item is not None] or None
        case bool():
            return value or None
        case int() | float():
            return value or None
        case str():
            return value or None
    return value


def stream(message: Message) -> Message:
    """The stream rendering of a message (jsonpb EnumsAsInts, EmitDefaults false)."""
    out: Message = {}
    for key, value in message.items():
        rendered = _stream_value(value)
        if rendered is not None:
            out[key] = rendered
    return out


def _rest_value(value: Any) -> Any:
    match value:
        case Optional():
            return _rest_value(value.value)
        case I64():
            return str(value.value)
        case Enum():
            return value.name
        case dict():
            return rest(value)
        case list():
            return [_rest_value(item) for item in value]
    return value


def rest(message: Message) -> Message:
    """The REST rendering of a message (enum names, defaults emitted)."""
    return {key: _rest_value(value) for key, value in message.items()}


def dumps(value: Any) -> bytes:
    """Compact JSON without newlines (one line of the stream), exact-sized: orjson's own
    result keeps a 4 KiB buffer, and these lines are queued and kept (snapshot pages)."""
    return memoryview(orjson.dumps(value)).tobytes()
