"""Query parameters → a stream filter, as grpc-gateway would parse them (README §2.3).

Keys may use the proto name (``market_ids``) or the JSON name (``marketIds``); repeated keys add
values (no comma splitting); the legacy singular names (``marketId``, ``partyId``) are accepted
for every stream that filters by market or party; unknown keys are ignored.

Two kinds of refusal, with the data-node's two shapes:

* :class:`Malformed`: a value the gateway cannot parse (a bool that is not a bool, an unknown
  enum name, two values for a singular field) → ``{"code":3,"message":...}``;
* :class:`InvalidArgument`: a value the RPC rejects (an id that is not 64 hex characters, a
  missing candle id) → ``{"error":{"code":3,...}}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tickcast.dialects.vega.wire.accounts import ACCOUNT_TYPES
from tickcast.dialects.vega.wire.ids import is_hex_id


class StreamName(StrEnum):
    TRADES = "trades"
    ORDERS = "orders"
    POSITIONS = "positions"
    ACCOUNTS = "accounts"
    MARKETS_DATA = "markets/data"
    MARKETS_DEPTH = "markets/depth"
    DEPTH_UPDATES = "markets/depth/updates"
    CANDLES = "candle/data"
    MARGIN_LEVELS = "margin/levels"
    LEDGER = "ledger/movements"


SNAPSHOT_STREAMS = frozenset({StreamName.ORDERS, StreamName.POSITIONS, StreamName.ACCOUNTS})
PARTY_STREAMS = frozenset(
    {
        StreamName.TRADES,
        StreamName.ORDERS,
        StreamName.POSITIONS,
        StreamName.ACCOUNTS,
        StreamName.MARGIN_LEVELS,
        StreamName.LEDGER,
    }
)
MARKET_KEYS = ("marketIds", "market_ids", "marketId", "market_id")
PARTY_KEYS = ("partyIds", "party_ids", "partyId", "party_id")
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOLS |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


class Malformed(ValueError):
    """A query value the gateway cannot parse: ``{"code":3,"message":<message>}``."""


class InvalidArgument(ValueError):
    """A value the RPC refuses: a stream error with code 3 and an ErrorDetail."""

    def __init__(self, message: str, inner: str) -> None:
        super().__init__(message)
        self.message = message
        self.inner = inner


@dataclass(frozen=True, slots=True)
class Filter:
    """What one stream subscription selects. Empty sets select everything."""

    stream: StreamName
    markets: frozenset[str] = frozenset()
    """Vega (64-hex) market ids."""
    parties: frozenset[str] = frozenset()
    asset: str = ""
    """Vega (64-hex) asset id, accounts only."""
    account_type: int = 0
    candle_id: str = ""
    exclude_liquidity: bool = False
    include_derived_parties: bool = False


def parse_stream_name(path: str) -> StreamName | None:
    """The stream of a path below ``/api/v2/stream/``, or None (NotFound)."""
    try:
        return StreamName(path.strip("/"))
    except ValueError:
        return None


def _values(pairs: Iterable[tuple[str, str]], keys: tuple[str, ...]) -> list[str]:
    return [value for key, value in pairs if key in keys]


def _single(pairs: list[tuple[str, str]], keys: tuple[str, ...]) -> str | None:
    values = _values(pairs, keys)
    if len(values) > 1:
        raise Malformed(f'too many values for field "{keys[-1]}": {", ".join(values)}')
    return values[0] if values else None


def _bool(pairs: list[tuple[str, str]], keys: tuple[str, ...]) -> bool:
    value = _single(pairs, keys)
    if value is None:
        return False
    if value not in _BOOLS:
        raise Malformed(
            f'parsing field "{keys[-1]}": strconv.ParseBool: parsing "{value}": invalid syntax'
        )
    return _BOOLS[value]


def _account_type(pairs: list[tuple[str, str]]) -> int:
    value = _single(pairs, ("type",))
    if value is None or value == "":
        return 0
    if value in ACCOUNT_TYPES:
        return ACCOUNT_TYPES[value]
    if value.lstrip("-").isdigit():
        return int(value)
    raise Malformed(f'parsing field "type": "{value}" is not a valid value')


def _ids(pairs: list[tuple[str, str]], keys: tuple[str, ...], what: str) -> frozenset[str]:
    values = frozenset(value for value in _values(pairs, keys) if value)
    for value in values:
        if not is_hex_id(value):
            raise InvalidArgument(f"invalid {what} id", f"one or more {what} id is invalid")
    return values


def parse(stream: StreamName, pairs: Iterable[tuple[str, str]]) -> Filter:
    """The filter of ``stream`` from the query's (key, value) pairs, in order."""
    items = list(pairs)
    if stream is StreamName.CANDLES:
        candle = _single(items, ("candleId", "candle_id"))
        if not candle:
            raise InvalidArgument("missing candle id", "candle id is required")
        return Filter(stream, candle_id=candle)
    markets = _ids(items, MARKET_KEYS, "market")
    parties = _ids(items, PARTY_KEYS, "party") if stream in PARTY_STREAMS else frozenset()
    exclude = False
    if stream is StreamName.ORDERS:
        exclude = _bool(items, ("excludeLiquidity", "exclude_liquidity"))
    derived = False
    asset = ""
    account_type = 0
    if stream in (StreamName.POSITIONS, StreamName.ACCOUNTS):
        derived = _bool(items, ("includeDerivedParties", "include_derived_parties"))
    if stream is StreamName.ACCOUNTS:
        asset = _single(items, ("asset",)) or ""
        if asset and not is_hex_id(asset):
            raise InvalidArgument("invalid asset id", "asset id is invalid")
        account_type = _account_type(items)
    return Filter(
        stream,
        markets=markets,
        parties=parties,
        asset=asset,
        account_type=account_type,
        exclude_liquidity=exclude,
        include_derived_parties=derived,
    )
