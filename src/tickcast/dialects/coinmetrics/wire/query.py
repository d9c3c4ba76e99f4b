"""Query strings and their values, checked the way Coin Metrics does.

"Typos handling: requests fail on unknown parameters or values": every endpoint names the
parameters it knows and every value is checked; the first problem becomes a ``bad_parameter``
error naming the parameter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl

from tickcast.dialects.coinmetrics.wire.errors import bad_parameter, unsupported

MAX_URI = 10_000
"""Longest accepted request URI ("URI must not be greater than 10000 symbols")."""
MAX_LIST = 2_000
"""Most items in one comma-separated parameter."""

Query = Mapping[str, str]


def parse_query(text: str) -> dict[str, str]:
    """Decode a query string; empty pairs (the client's ``?&markets=`` without a key) are fine."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in query:
            raise bad_parameter(name, "Parameter is given more than once.")
        query[name] = value
    return query


def check_known(query: Query, known: Collection[str]) -> None:
    """Fail on the first parameter the endpoint does not know (``api_key`` is always known)."""
    for name in query:
        if name != "api_key" and name not in known:
            raise bad_parameter(name, "Parameter is not supported.")


def text(query: Query, name: str, default: str | None = None) -> str | None:
    """A plain value; an empty value counts as absent."""
    value = query.get(name)
    return value if value else default


def required_list(query: Query, name: str) -> list[str]:
    items = optional_list(query, name)
    if not items:
        raise bad_parameter(name, "Parameter is required.")
    return items


def optional_list(query: Query, name: str) -> list[str]:
    """A comma-separated list without empty items; ``[]`` when absent."""
    value = query.get(name)
    if not value:
        return []
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise bad_parameter(name, "Empty value in the list.")
    if len(items) > MAX_LIST:
        raise bad_parameter(name, f"Must contain at most {MAX_LIST} values.")
    return list(dict.fromkeys(items))


def boolean(query: Query, name: str, default: bool = False) -> bool:
    value = query.get(name)
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise bad_parameter(name, "Must be 'true' or 'false'.")


def choice(query: Query, name: str, choices: Collection[str], default: str) -> str:
    value = query.get(name)
    if not value:
        return default
    if value not in choices:
        allowed = ", ".join(f"'{c}'" for c in choices)
        raise bad_parameter(name, f"Value '{value}' is not supported; use one of {allowed}.")
    return value


def integer(query: Query, name: str, default: int, *, low: int, high: int) -> int:
    value = query.get(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise bad_parameter(name, "Must be a positive integer.")
    number = int(value)
    if number < low:
        raise bad_parameter(name, f"Must be at least {low}.")
    if number > high:
        raise bad_parameter(name, f"Must be at most {high}.")
    return number


def is_pattern(item: str) -> bool:
    return "*" in item or "?" in item or "[" in item


def expand(
    name: str, noun: str, items: Iterable[str], known: Collection[str], *, fold: bool = False
) -> list[str]:
    """Resolve names and glob patterns (``binance-*-spot``, ``*USDT-future``) against ``known``.

    Order: as requested, each pattern's matches sorted; duplicates once. An unknown name or a
    pattern matching nothing is a ``bad_parameter`` error.
    """
    ordered = sorted(known)
    result: dict[str, None] = {}
    for item in items:
        wanted = item.lower() if fold else item
        if is_pattern(wanted):
            matches = [k for k in ordered if fnmatchcase(k, wanted)]
            if not matches:
                raise unsupported(name, noun, item)
            result.update(dict.fromkeys(matches))
        elif wanted in known:
            result[wanted] = None
        else:
            raise unsupported(name, noun, item)
    return list(result)
