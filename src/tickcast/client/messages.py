"""What the SDK yields, and the parsing of native server frames (``/api/v1/ws``).

User messages (yielded by ``Subscription`` iterators): ``Update``, ``Snapshot``, ``Gap``,
``Reset``, ``ChecksumMismatch``, ``Reconnected``, ``ServerError``. Control replies (``Subscribed``,
``Unsubscribed``, ``Pong``, ``Closing``) are parsed too but consumed by the client itself.
``parse_message`` is pure: text in, one frozen dataclass out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tickcast.errors import InvalidMessage, UnknownCommand

__all__ = [
    "ChecksumMismatch",
    "Closing",
    "ControlMessage",
    "Gap",
    "Message",
    "Pong",
    "Reconnected",
    "Reset",
    "ServerError",
    "ServerMessage",
    "Snapshot",
    "StreamStart",
    "Subscribed",
    "Unsubscribed",
    "Update",
    "parse_message",
]

CLIENT_DETECTED = "client-detected"
"""``Gap.reason`` of a hole the client saw in an unfiltered stream without a Gap notice."""
PREV_MISMATCH = "prev_mismatch"
"""``Gap.reason`` of an Update whose ``prev`` is not the seq of the last message the client
received of that stream (any view, docs/protocol.md): frames were lost in between."""


@dataclass(frozen=True, slots=True)
class Update:
    """One event of ``stream``; ``seq`` is dense within the stream's epoch."""

    stream: str
    seq: int
    data: dict[str, Any]
    checksum: int | None = None
    prev: int | None = None
    """The seq of the previous message of ``stream`` this subscription received, on every view
    (None from a server that does not send it)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of a STATE stream as of ``seq``; updates follow from ``seq + 1``.

    ``reset`` is True when it replaces state the client held (the client missed updates).
    """

    stream: str
    epoch: str
    seq: int
    data: dict[str, Any]
    reset: bool = False
    checksum: int | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``from_seq..to_seq`` of ``stream`` are lost for good.

    ``reason``: ``history``, ``epoch``, ``overflow``, ``unencodable`` or ``venue`` (trades a live
    venue lost, docs/connectors.md) from the server, or ``client-detected`` or ``prev_mismatch``
    (detected by the client).
    """

    stream: str
    epoch: str
    from_seq: int
    to_seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reset:
    """Local state of ``stream`` is being replaced: the next ``Snapshot`` of it starts afresh."""

    stream: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChecksumMismatch:
    """The local book of ``stream`` disagreed with the server's checksum after ``seq``."""

    stream: str
    seq: int
    expected: int
    actual: int


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The connection was re-established after ``attempt`` tries; resumes follow."""

    attempt: int


@dataclass(frozen=True, slots=True)
class ServerError:
    """An in-band ``Error`` (or ``InvalidMessage``, code ``invalid_message``) from the server."""

    code: str
    message: str
    id: int | str | None = None


Message = Update | Snapshot | Gap | Reset | ChecksumMismatch | Reconnected | ServerError
"""Everything a subscription iterator yields."""


@dataclass(frozen=True, slots=True)
class StreamStart:
    """One entry of ``Subscribed``: where the stream stood when the subscription started."""

    stream: str
    epoch: str
    seq: int


@dataclass(frozen=True, slots=True)
class Subscribed:
    id: int | str
    streams: tuple[StreamStart, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    id: int | str
    streams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pong:
    id: int | str


@dataclass(frozen=True, slots=True)
class Closing:
    """The server is about to close; ``retry`` says whether reconnecting makes sense."""

    code: int
    reason: str
    retry: bool


ControlMessage = Subscribed | Unsubscribed | Pong | Closing
ServerMessage = Update | Snapshot | Gap | ServerError | ControlMessage


def _get(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidMessage(f"{body.get('type')}: '{name}' missing or of the wrong type")
    return value


def _id(body: dict[str, Any]) -> int | str:
    value: int | str = _get(body, "id", (int, str))
    return value


def _optional_id(body: dict[str, Any]) -> int | str | None:
    return _id(body) if body.get("id") is not None else None


def _checksum(body: dict[str, Any]) -> int | None:
    return _get(body, "checksum", int) if body.get("checksum") is not None else None


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = _get(body, "data", dict)
    return data


def _update(body: dict[str, Any]) -> Update:
    prev = _get(body, "prev", int) if body.get("prev") is not None else None
    return Update(
        _get(body, "stream", str), _get(body, "seq", int), _data(body), _checksum(body), prev
    )


def _snapshot(body: dict[str, Any]) -> Snapshot:
    return Snapshot(
        stream=_get(body, "stream", str),
        epoch=_get(body, "epoch", str),
        seq=_get(body, "seq", int),
        data=_data(body),
        reset=body.get("reset") is True,
        checksum=_checksum(body),
    )


def _gap(body: dict[str, Any]) -> Gap:
    return Gap(
        stream=_get(body, "stream", str),
        epoch=str(body.get("epoch", "")),
        from_seq=_get(body, "from", int),
        to_seq=_get(body, "to", int),
        reason=str(body.get("reason", "")),
    )


def _subscribed(body: dict[str, Any]) -> Subscribed:
    starts = []
    for entry in _get(body, "streams", list):
        if not isinstance(entry, dict):
            raise InvalidMessage("Subscribed: 'streams' entries must be objects")
        starts.append(
            StreamStart(
                _get(entry, "stream", str), _get(entry, "epoch", str), _get(entry, "seq", int)
            )
        )
    return Subscribed(_id(body), tuple(starts))


def _unsubscribed(body: dict[str, Any]) -> Unsubscribed:
    streams = _get(body, "streams", list)
    return Unsubscribed(_id(body), tuple(str(stream) for stream in streams))


def _error(body: dict[str, Any]) -> ServerError:
    return ServerError(str(body.get("code", "")), str(body.get("message", "")), _optional_id(body))


def _invalid(body: dict[str, Any]) -> ServerError:
    return ServerError("invalid_message", str(body.get("reason", "")), None)


def _closing(body: dict[str, Any]) -> Closing:
    code = body.get("code")
    return Closing(
        code if isinstance(code, int) else 1000,
        str(body.get("reason", "")),
        body.get("retry") is True,
    )


def _pong(body: dict[str, Any]) -> Pong:
    return Pong(_id(body))


_PARSERS: dict[str, Callable[[dict[str, Any]], ServerMessage]] = {
    "Update": _update,
    "Snapshot": _snapshot,
    "Gap": _gap,
    "Subscribed": _subscribed,
    "Unsubscribed": _unsubscribed,
    "Error": _error,
    "InvalidMessage": _invalid,
    "Pong": _pong,
    "Closing": _closing,
}


def parse_message(text: str | bytes) -> ServerMessage:
    """Parse one server frame; raise ``InvalidMessage`` (malformed) or ``UnknownCommand``."""
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise InvalidMessage("server frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidMessage("server frame must be a JSON object")
    kind = body.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise UnknownCommand(f"unknown server message type {str(kind)[:40]!r}")
    return parser(body)
