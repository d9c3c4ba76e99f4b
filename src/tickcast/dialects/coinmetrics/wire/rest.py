"""REST requests (``/v4/timeseries/*``, reference data, catalogue): times, paging, bodies.

Paging follows Coin Metrics: ``page_size`` (default 100, at most 10 000), ``paging_from``
(``start`` or ``end``) and an opaque ``next_page_token``; ``format=json`` answers
``{"data": [...], "next_page_token", "next_page_url"}`` (no token on the last page, never an
empty page with a token), ``format=json_stream`` answers every row as NDJSON without paging.
Rows are ordered by entity (market, asset, index: in the requested order, patterns expanded in
sorted order), then time. A token names the entity and the record number of the page's edge
row, so it stays valid while the server records more data.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from tickcast.dialects.coinmetrics.wire import query
from tickcast.dialects.coinmetrics.wire.errors import bad_parameter

MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 100
FORMATS = ("json", "json_stream")

PAGING = ("page_size", "paging_from", "next_page_token", "format")
TIME_RANGE = ("start_time", "end_time", "start_inclusive", "end_inclusive", "timezone")
IGNORED = (
    "granularity", "min_confirmations", "type", "dataset", "start_with_snapshot", "sort",
    "status", "null_as_zero", "start_height", "end_height", "start_hash", "end_hash",
    "ignore_forbidden_errors", "ignore_unsupported_errors", "include", "asset_class",
    "source_type", "cusip", "figi", "isin", "include_expired", "pretty", "reviewable",
)  # fmt: skip
"""Parameters the official client may send that tickcast accepts and ignores (documented)."""

_TIME = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)"
    r"(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d\d:?\d\d)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d\d)(\d\d)$")


def parse_time(name: str, text: str) -> int:
    """ISO 8601 (date, or date-time with up to 9 fractional digits, optional zone) → UTC ns."""
    match = _TIME.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        raise bad_parameter(name, f"Value '{text}' is not a valid ISO 8601 time.")
    groups = list(match.groups()) + [None] * (8 - len(match.groups()))
    year, month, day, hour, minute, second, fraction, zone = groups
    try:
        moment = datetime(
            int(year or 0), int(month or 0), int(day or 0),
            int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        raise bad_parameter(name, f"Value '{text}' is not a valid ISO 8601 time.") from None
    nanos = int((fraction or "").ljust(9, "0"))
    offset = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    seconds = int(moment.timestamp()) - offset
    return seconds * 1_000_000_000 + nanos


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ns: int | None
    end_ns: int | None
    """Inclusive bounds (None: unbounded)."""


def time_range(params: query.Query) -> TimeRange:
    timezone = query.text(params, "timezone", "UTC")
    if timezone not in ("UTC", "Etc/UTC"):
        raise bad_parameter("timezone", "Only 'UTC' is supported by tickcast.")
    start_text, end_text = query.text(params, "start_time"), query.text(params, "end_time")
    start = parse_time("start_time", start_text) if start_text else None
    end = parse_time("end_time", end_text) if end_text else None
    if start is not None and not query.boolean(params, "start_inclusive", True):
        start += 1
    if end is not None and not query.boolean(params, "end_inclusive", True):
        end -= 1
    if start is not None and end is not None and start > end:
        raise bad_parameter("start_time", "Start time must not be after end time.")
    return TimeRange(start, end)


@dataclass(frozen=True, slots=True)
class Paging:
    page_size: int
    from_start: bool
    token: tuple[str, int] | None
    stream: bool
    """``format=json_stream``: every row, no paging."""


def paging(params: query.Query, *, default_from: str = "end") -> Paging:
    fmt = query.choice(params, "format", FORMATS, "json")
    size = query.integer(params, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
    origin = query.choice(params, "paging_from", ("start", "end"), default_from)
    token_text = query.text(params, "next_page_token")
    token = decode_token(token_text) if token_text else None
    return Paging(size, origin == "start", token, fmt == "json_stream")


def encode_token(entity: str, rid: int) -> str:
    raw = f"{entity}\x1f{rid}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(text: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        entity, _, rid = raw.partition("\x1f")
        return entity, int(rid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_parameter("next_page_token", "Value is not a valid page token.") from None


@dataclass(frozen=True, slots=True)
class Item:
    """One result row and where it sorts: entity position, record number."""

    entity: str
    rid: int
    row: dict[str, Any]


def limit_each(items: Sequence[Item], limit: int | None, *, from_start: bool) -> list[Item]:
    """At most ``limit`` items per entity: the first ones (``start``) or the last ones."""
    if limit is None:
        return list(items)
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.entity, []).append(item)
    result: list[Item] = []
    for group in groups.values():
        result.extend(group[:limit] if from_start else group[-limit:])
    return result


def page(
    items: Sequence[Item], order: Sequence[str], pages: Paging
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``items`` (sorted by entity order, then rid) and the next page's token."""
    rank = {entity: index for index, entity in enumerate(order)}
    keys = [(rank.get(item.entity, len(rank)), item.rid) for item in items]
    if pages.stream:
        return [item.row for item in items], None
    if pages.from_start:
        start = 0
        if pages.token is not None:
            mark = (rank.get(pages.token[0], len(rank)), pages.token[1])
            start = next((i for i, key in enumerate(keys) if key > mark), len(keys))
        chosen = items[start : start + pages.page_size]
        more = start + pages.page_size < len(items)
        edge = chosen[-1] if chosen else None
    else:
        end = len(items)
        if pages.token is not None:
            mark = (rank.get(pages.token[0], len(rank)), pages.token[1])
            end = next((i for i, key in enumerate(keys) if key >= mark), len(keys))
        begin = max(0, end - pages.page_size)
        chosen = items[begin:end]
        more = begin > 0
        edge = chosen[0] if chosen else None
    token = encode_token(edge.entity, edge.rid) if more and edge is not None else None
    return [item.row for item in chosen], token


def ndjson(rows: Iterable[dict[str, Any]]) -> Iterable[bytes]:
    """``format=json_stream`` chunks: one JSON object per line, no blank lines."""
    chunk: list[bytes] = []
    for row in rows:
        chunk.append(orjson.dumps(row))
        if len(chunk) >= 1000:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"


def json_page(
    rows: list[dict[str, Any]], token: str | None, url: str, params: query.Query
) -> bytes:
    """``format=json``: ``data``, plus ``next_page_token`` and ``next_page_url`` if more.

    ``next_page_url`` is the request's own query (``api_key`` included, as the vendor documents
    "fetch that URL unmodified") with the new token.
    """
    body: dict[str, Any] = {"data": rows}
    if token is not None:
        body["next_page_token"] = token
        following = {k: v for k, v in params.items() if k != "next_page_token"}
        following["next_page_token"] = token
        body["next_page_url"] = f"{url}?{urlencode(following)}"
    return orjson.dumps(body)
