"""Plans: what a key may stream, how much, and how fast.

Plans are defined in TOML, one ``[plans.<name>]`` table each. The built-ins live in
``tickcast/plans.toml``; :func:`load_plans` merges a user file's plans over them (a plan with the
same name replaces the built-in one). Every key of a table is validated, unknown keys are errors,
and a table may say ``inherits = "<plan>"`` to take the keys it does not set from another plan.

Market patterns (``markets``) are :func:`fnmatch.fnmatchcase` globs:

* a plain pattern (``"*"``, ``"binance-*-spot"``, ``"*USDT-future"``) is matched against the
  subject of the stream: the market id of a market stream, or the asset code of an asset stream
  (ticker, metrics; asset codes are compared case-insensitively). Market ids always contain
  ``-`` and asset codes never do, so ``"binance-*-spot"`` grants no asset and ``"*"`` grants all;
* an ``asset:`` pattern (``"asset:*"``, ``"asset:btc"``) matches asset codes only, which is how a
  plan grants every asset without granting every market.

Prediction streams are not matched against ``markets``: they need ``predictions = true``.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from tickcast.errors import ConfigError
from tickcast.model.streams import StreamKey, StreamKind

ANY = "*"
"""Wildcard for ``stream_kinds`` and ``feeds``."""

ASSET_PATTERN_PREFIX = "asset:"
"""Marks a ``markets`` pattern that matches asset codes only."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_FEED_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_KINDS = frozenset(kind.value for kind in StreamKind)
_INHERITS = "inherits"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """One plan. Collections may be given as any iterable; they are normalised and validated."""

    name: str
    stream_kinds: frozenset[str]
    """``StreamKind`` values, or ``"*"`` for all."""
    markets: tuple[str, ...]
    """Globs over market ids and asset codes (see the module docstring)."""
    max_connections: int
    """Concurrent connections per user."""
    max_subscriptions: int
    """Subscriptions per connection."""
    conflation_ms: int
    """Minimum interval between updates of a state stream; 0 = every update."""
    history_depth: int
    """Most events a resume may replay."""
    predictions: bool
    feeds: frozenset[str]
    """Extra dialect features, e.g. ``socketio-feed``, ``predictions-ws``; ``"*"`` for all."""
    requests_per_minute: int
    publish: bool
    """Whether the plan may use the publish API."""
    max_prediction_connections: int = 0
    """Concurrent ``/ws`` prediction connections per user (cluster-wide); 0 = any number (the
    built-in plans: every connection is metered instead). Optional in a plan table."""
    max_feed_connections: int = 2
    """Concurrent Socket.IO price feed connections per user (cluster-wide); 0 = any number.
    Optional in a plan table: 2, the vendor's limit, unless the plan says otherwise."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(
                f"invalid plan name {self.name!r}: use lower-case letters, digits, '_' and '-'"
            )
        for field in PLAN_FIELDS:
            value = _coerce(self.name, field, getattr(self, field))
            object.__setattr__(self, field, value)

    def allows_kind(self, kind: StreamKind | str) -> bool:
        """Whether the plan grants this stream kind at all."""
        return ANY in self.stream_kinds or str(kind) in self.stream_kinds

    def allows_market(self, market_id: str) -> bool:
        """Whether a plain pattern matches the market id."""
        return any(
            not pattern.startswith(ASSET_PATTERN_PREFIX) and fnmatchcase(market_id, pattern)
            for pattern in self.markets
        )

    def allows_asset(self, asset: str) -> bool:
        """Whether a plain or ``asset:`` pattern matches the asset code (case-insensitively)."""
        code = asset.lower()
        return any(
            fnmatchcase(code, pattern.removeprefix(ASSET_PATTERN_PREFIX).lower())
            for pattern in self.markets
        )

    def allows_stream(self, key: StreamKey) -> bool:
        """Whether the plan grants the stream: kind allowed and subject matched."""
        if not self.allows_kind(key.kind):
            return False
        if key.kind is StreamKind.PREDICTIONS:
            return self.predictions
        if key.market is not None:
            return self.allows_market(key.market)
        return self.allows_asset(key.subject)

    def allows_feed(self, feed: str) -> bool:
        """Whether the plan grants an extra dialect feature such as ``socketio-feed``."""
        return ANY in self.feeds or feed in self.feeds

    def with_overrides(self, **fields: object) -> Plan:
        """A copy with some fields replaced (validated; ConfigError for bad or unknown fields)."""
        unknown = sorted(set(fields) - set(PLAN_FIELDS))
        if unknown:
            raise ConfigError(f"plan {self.name!r}: unknown override(s) {', '.join(unknown)}")
        changes: dict[str, Any] = dict(fields)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (sorted lists), e.g. for a "what can I do" endpoint."""
        out: dict[str, object] = {"name": self.name}
        for field in PLAN_FIELDS:
            value = getattr(self, field)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[field] = value
        return out


PLAN_FIELDS: tuple[str, ...] = tuple(
    field.name for field in dataclasses.fields(Plan) if field.name != "name"
)
"""Every configurable field of a plan (all but ``name``)."""

OPTIONAL: dict[str, object] = {"max_prediction_connections": 0, "max_feed_connections": 2}
"""Fields a plan table may leave out (and their defaults)."""


def _fail(plan: str, field: str, value: object, reason: str) -> ConfigError:
    return ConfigError(f"plan {plan!r}: {field} = {value!r}: {reason}")


def _strings(plan: str, field: str, value: object) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise _fail(plan, field, value, "must be a list of strings")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _fail(plan, field, value, f"{item!r} is not a string")
    return items


def _int(plan: str, field: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(plan, field, value, "must be an integer")
    if value < minimum:
        raise _fail(plan, field, value, f"must be >= {minimum}")
    return value


def _bool(plan: str, field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _fail(plan, field, value, "must be true or false")
    return value


def _kinds(plan: str, value: object) -> frozenset[str]:
    kinds = _strings(plan, "stream_kinds", value)
    for kind in kinds:
        if kind != ANY and kind not in _KINDS:
            allowed = ", ".join(sorted(_KINDS))
            raise _fail(plan, "stream_kinds", value, f"{kind!r} is not '*' or one of {allowed}")
    return frozenset(kinds)


def _patterns(plan: str, value: object) -> tuple[str, ...]:
    patterns = _strings(plan, "markets", value)
    for pattern in patterns:
        glob = pattern.removeprefix(ASSET_PATTERN_PREFIX)
        if not glob or len(pattern) > 200 or any(char.isspace() for char in pattern):
            raise _fail(plan, "markets", value, f"{pattern!r} is not a valid pattern")
    return tuple(patterns)


def _feeds(plan: str, value: object) -> frozenset[str]:
    feeds = _strings(plan, "feeds", value)
    for feed in feeds:
        if feed != ANY and not _FEED_RE.match(feed):
            raise _fail(plan, "feeds", value, f"{feed!r} is not a feature name like 'a-feed'")
    return frozenset(feeds)


def _coerce(plan: str, field: str, value: object) -> object:
    """Validate one field value and return it in its canonical type."""
    match field:
        case "stream_kinds":
            return _kinds(plan, value)
        case "markets":
            return _patterns(plan, value)
        case "feeds":
            return _feeds(plan, value)
        case "max_connections" | "max_subscriptions" | "requests_per_minute":
            return _int(plan, field, value, 1)
        case "conflation_ms" | "history_depth":
            return _int(plan, field, value, 0)
        case "max_prediction_connections" | "max_feed_connections":
            return _int(plan, field, value, 0)
        case "predictions" | "publish":
            return _bool(plan, field, value)
    raise ConfigError(f"plan {plan!r}: unknown key {field!r}")


def _build(name: str, table: Mapping[str, object], parent: Plan | None) -> Plan:
    fields: dict[str, Any] = {}
    if parent is not None:
        fields = {field: getattr(parent, field) for field in PLAN_FIELDS}
    for key, value in table.items():
        if key == _INHERITS:
            continue
        if key not in PLAN_FIELDS:
            allowed = ", ".join((_INHERITS, *PLAN_FIELDS))
            raise ConfigError(f"plan {name!r}: unknown key {key!r} (allowed: {allowed})")
        fields[key] = _coerce(name, key, value)
    missing = [field for field in PLAN_FIELDS if field not in fields and field not in OPTIONAL]
    if missing:
        raise ConfigError(f"plan {name!r}: missing key(s) {', '.join(missing)}")
    return Plan(name=name, **fields)


def parse_plans(
    text: str, *, base: Mapping[str, Plan] | None = None, source: str = "plans"
) -> dict[str, Plan]:
    """The plans defined by the ``[plans.*]`` tables of a TOML text (other tables are ignored).

    ``inherits`` may name a plan of the same text or of ``base``; a plan inheriting its own name
    inherits the ``base`` plan it replaces.
    """
    base = base or {}
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    tables = document.get("plans", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: 'plans' must be a table of [plans.<name>] tables")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: plans.{name} must be a table")
    plans: dict[str, Plan] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> Plan:
        if name in plans:
            return plans[name]
        table: dict[str, object] = tables[name]
        parent: Plan | None = None
        if _INHERITS in table:
            parent_name = table[_INHERITS]
            if not isinstance(parent_name, str):
                raise _fail(name, _INHERITS, parent_name, "must be a plan name")
            if parent_name in stack:
                raise _fail(name, _INHERITS, parent_name, "inheritance cycle")
            if parent_name in tables and parent_name != name:
                parent = resolve(parent_name, (*stack, name))
            elif parent_name in base:
                parent = base[parent_name]
            else:
                raise _fail(name, _INHERITS, parent_name, "no such plan")
        plans[name] = _build(name, table, parent)
        return plans[name]

    for name in tables:
        resolve(name, ())
    return plans


_builtin_cache: dict[str, Plan] | None = None


def builtin_plans() -> dict[str, Plan]:
    """The plans of ``tickcast/plans.toml`` (a fresh dict each call)."""
    global _builtin_cache
    if _builtin_cache is None:
        text = importlib.resources.files("tickcast").joinpath("plans.toml").read_text("utf-8")
        _builtin_cache = parse_plans(text, source="tickcast/plans.toml")
    return dict(_builtin_cache)


def load_plans(text: str | None = None) -> dict[str, Plan]:
    """Built-in plans, with the ``[plans.*]`` tables of ``text`` (a TOML document) merged over.

    Raises ConfigError naming the plan, key and bad value.
    """
    plans = builtin_plans()
    if text is not None:
        plans.update(parse_plans(text, base=plans, source="config"))
    return plans
