"""The Socket.IO price feed (namespace ``/api-ws``), sans-I/O: what goes on the wire and why.

The feed is a ChartInspect-compatible crypto price feed (docs/dialects/socketio-feed.md). This
module holds everything about it that needs no socket: the refusal messages, the symbol
universe, the ``MarketUpdate`` shape of a :class:`~tickcast.model.Ticker`, parsing of the
``subscribe``/``unsubscribe`` payloads, the subscription-set rules and the acknowledgements.
The python-socketio wiring lives in ``tickcast.dialects.socketio_feed.endpoint.feed``.

Subscription rules:

* a fresh connection receives ``price-update`` for every symbol it may see;
* the first ``subscribe`` that names at least one known symbol narrows the set to the symbols it
  lists; later ones add to the set;
* ``unsubscribe`` removes symbols (after it the set is explicit, so a later ``subscribe`` adds);
* symbols match case-insensitively and go out upper-case; unknown ones are ignored (and listed
  under ``unknown`` in the acknowledgement); a malformed payload changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickcast.model.envelope import StreamPosition
from tickcast.model.events import Event, Ticker
from tickcast.model.streams import StreamKind

FEED = "socketio-feed"
"""The plan feature (``Plan.allows_feed``) and the dialect name in the control plane."""

NAMESPACE = "/api-ws"
"""The Socket.IO namespace of the feed (served at the Engine.IO path ``/socket.io/``)."""

INITIAL_PRICES = "initial-prices"
PRICE_UPDATE = "price-update"
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"

AUTHENTICATION_FAILED = "Authentication failed"
"""Missing, malformed, unknown or revoked key."""
PRO_REQUIRED = "Pro subscription required"
"""Valid key, but the plan does not include the feed."""
CONNECTION_LIMIT_EXCEEDED = "Connection limit exceeded"
"""The user already holds the plan's ``max_feed_connections`` (2 by default) feed connections,
counted across every key of the user."""
SERVER_OVERLOADED = "Server overloaded"
"""The server is starting or shutting down."""

SYMBOLS: tuple[str, ...] = (
    "BTC", "ETH", "LTC", "XRP", "BCH", "ADA", "DOT", "LINK", "BNB", "DOGE",
    "UNI", "SOL", "MATIC", "AVAX", "ATOM", "XLM", "ALGO", "VET", "ICP", "FIL",
)  # fmt: skip
"""The feed's symbols, in the vendor's order (acknowledgements list symbols in this order)."""

_ORDER = {symbol: index for index, symbol in enumerate(SYMBOLS)}

ALL_SYMBOLS = frozenset(SYMBOLS)

MAX_SYMBOLS_PER_REQUEST = 100
"""A ``subscribe``/``unsubscribe`` listing more entries than this is malformed."""

MALFORMED = "expected {symbols: string[]}"
"""The ``error`` of the acknowledgement of a malformed payload."""

MarketUpdate = dict[str, str | int | float]
"""``{"symbol", "price", "volume", "timestamp", "change", "changePercent"}``."""


def symbol_of(asset: str) -> str | None:
    """The feed symbol of an asset code (``"btc"`` → ``"BTC"``), or None if not in the feed."""
    symbol = asset.upper()
    return symbol if symbol in _ORDER else None


def asset_of(symbol: str) -> str:
    """The asset code of a feed symbol (``"BTC"`` → ``"btc"``): the subject of its ticker."""
    return symbol.lower()


def ordered(symbols: Iterable[str]) -> list[str]:
    """Feed symbols in the feed's order."""
    return sorted(symbols, key=_ORDER.__getitem__)


def market_update(ticker: Ticker) -> MarketUpdate:
    """The ``MarketUpdate`` of a ticker: JSON numbers, ``timestamp`` in Unix seconds.

    ``price`` is the last price in USD; ``change``/``changePercent`` the change since the price
    24 h ago (``open_24h``), the percentage rounded to 2 decimals; ``volume`` the 24 h quote
    volume in USD, i.e. the ticker's base volume times the last price, rounded to cents.
    """
    scale = 10**ticker.decimals
    change = ticker.price - ticker.open_24h
    percent = round(change * 100 / ticker.open_24h, 2) if ticker.open_24h else 0.0
    volume_scale = 10 ** (ticker.decimals + ticker.volume_decimals)
    update: MarketUpdate = {
        "symbol": ticker.asset.upper(),
        "price": ticker.price / scale,
        "volume": round(ticker.volume_24h * ticker.price / volume_scale, 2),
        "timestamp": ticker.time_ns // 1_000_000_000,
        "change": change / scale,
        "changePercent": percent,
    }
    return update


def stamped(update: MarketUpdate, seq: int, published_ns: int) -> MarketUpdate:
    """``update`` followed by ``seq`` (the feed's count of stamped updates) and ``t_ns`` (the
    publish time on the ticker's envelope): the node's ``publish_stamps`` setting, for latency
    benchmarks, whose load clients read them from the end of the packet."""
    return {**update, "seq": seq, "t_ns": published_ns}


def api_key_from_auth(auth: object) -> str | None:
    """The key of a CONNECT packet's auth object ``{"apiKey": "..."}``; None if absent."""
    if not isinstance(auth, dict):
        return None
    key = auth.get("apiKey")
    return key if isinstance(key, str) and key else None


@dataclass(frozen=True, slots=True)
class SymbolRequest:
    """A parsed ``subscribe``/``unsubscribe`` payload."""

    known: tuple[str, ...]
    """Symbols of the feed the connection may see: upper-case, first occurrence kept."""
    unknown: tuple[str, ...]
    """Everything else, as the client wrote it."""


def parse_symbols(payload: object, *, available: frozenset[str]) -> SymbolRequest | None:
    """Parse ``{"symbols": [...]}`` (a bare list is accepted too); None when malformed.

    ``available`` is the set of symbols the connection may see; others count as unknown.
    """
    if isinstance(payload, dict):
        payload = payload.get("symbols")
    if not isinstance(payload, list) or len(payload) > MAX_SYMBOLS_PER_REQUEST:
        return None
    if not all(isinstance(item, str) for item in payload):
        return None
    known: dict[str, None] = {}
    unknown: list[str] = []
    for item in payload:
        symbol = item.strip().upper()
        if symbol in available:
            known[symbol] = None
        else:
            unknown.append(item)
    return SymbolRequest(tuple(known), tuple(unknown))


@dataclass(frozen=True, slots=True)
class Change:
    """What a subscription request changed: symbols to start and to stop sending."""

    added: frozenset[str]
    removed: frozenset[str]


class Selection:
    """The symbols one connection receives (the rules are in the module docstring)."""

    __slots__ = ("_narrowed", "_symbols", "available")

    def __init__(self, available: Iterable[str]) -> None:
        self.available = available if isinstance(available, frozenset) else frozenset(available)
        self._symbols: frozenset[str] = self.available
        """Replaced, never mutated: a fresh connection shares the set of what it may see."""
        self._narrowed = False

    @property
    def symbols(self) -> frozenset[str]:
        return self._symbols

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._symbols

    def subscribe(self, symbols: Iterable[str]) -> Change:
        """Apply a ``subscribe`` of known symbols."""
        wanted = set(symbols) & self.available
        if not wanted:
            return Change(frozenset(), frozenset())
        before = self._symbols
        if self._narrowed:
            self._symbols = before | wanted
        else:
            self._symbols = frozenset(wanted)
            self._narrowed = True
        return Change(self._symbols - before, before - self._symbols)

    def unsubscribe(self, symbols: Iterable[str]) -> Change:
        """Apply an ``unsubscribe`` of known symbols."""
        removed = self._symbols & frozenset(symbols)
        self._symbols = self._symbols - removed
        self._narrowed = True
        return Change(frozenset(), removed)


def ack(selection: Selection, request: SymbolRequest) -> dict[str, object]:
    """The acknowledgement of a request: the whole selection after it, and what was unknown."""
    return {"ok": True, "symbols": ordered(selection.symbols), "unknown": list(request.unknown)}


def malformed_ack() -> dict[str, object]:
    """The acknowledgement of a malformed payload (nothing changed)."""
    return {"ok": False, "error": MALFORMED}


def event_frame(event: str, *args: object) -> str:
    """The WebSocket text frame of an event in the feed's namespace, as python-socketio writes
    it: Engine.IO ``4`` (message), Socket.IO ``2`` (event), ``/api-ws,``, then the JSON array."""
    return "42" + NAMESPACE + "," + json.dumps([event, *args], separators=(",", ":"))


NOOP = b"6"
"""An Engine.IO NOOP packet: what the encoder renders where the feed has nothing to say (a
snapshot or a gap notice: the feed sends ``initial-prices`` itself and has no gaps). Clients
ignore it; the feed never writes it (see :func:`is_message`)."""


def is_message(frame: bytes) -> bool:
    """Whether an encoded frame is an Engine.IO message (``4...``) to send, not a NOOP."""
    return frame[:1] == b"4"


class FeedEncoder:
    """The hub's encoder of the feed: a ticker becomes the WebSocket payload of its
    ``price-update`` packet (``42/api-ws,["price-update",{...}]``), encoded ONCE per update for
    every connection of the group.

    ``conflation_ms`` is the delivery policy of its connections, carried as data: the hub gives
    the channels of an encoder with ``conflation_s`` > 0 a clock (``hub/conflation.py``) that
    sends only the newest frame per stream every ``conflation_s``. Encoders with different
    policies have different names, so their connections never share a group or a channel.
    """

    __slots__ = ("_stamped", "_stamps", "conflation_s", "name")

    def __init__(self, conflation_ms: int = 0, *, publish_stamps: bool = False) -> None:
        self.conflation_s = conflation_ms / 1000
        self.name = FEED if conflation_ms <= 0 else f"{FEED}/{conflation_ms}ms"
        self._stamps = publish_stamps
        self._stamped = 0
        """``seq`` of the last stamped update (``publish_stamps``): one count per encoder."""

    def update_frame(
        self,
        stream: str,
        seq: int,
        event: Event,
        checksum: int | None,
        prev: int | None = None,
        published_ns: int = 0,
    ) -> bytes:
        """With ``publish_stamps``, an update whose envelope has a publish time is followed by
        the next ``seq`` and that time (:func:`stamped`)."""
        if not isinstance(event, Ticker):
            return NOOP
        update = market_update(event)
        if self._stamps and published_ns:
            self._stamped += 1
            update = stamped(update, self._stamped, published_ns)
        return event_frame(PRICE_UPDATE, update).encode()

    def snapshot_frame(
        self,
        stream: str,
        kind: StreamKind,
        position: StreamPosition,
        events: Sequence[Event],
        *,
        checksum: int | None,
        reset: bool,
    ) -> bytes:
        return NOOP

    def gap_frame(self, stream: str, epoch: str, from_seq: int, to_seq: int, reason: str) -> bytes:
        return NOOP


def stream_of(symbol: str) -> str:
    """The bus stream of a feed symbol's prices (``"BTC"`` → ``"ticker:btc"``)."""
    return f"ticker:{asset_of(symbol)}"
