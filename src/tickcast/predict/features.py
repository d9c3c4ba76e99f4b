"""Live market features, sans-I/O: events in, a feature vector out.

Feature names (a model attached to a market must use only these, in any order):

``return_<N>s``
    last trade price / reference price - 1, where the reference is the last trade at or before
    N seconds ago (the oldest trade seen while less than N seconds of trades are known).
``volume_<N>s``
    base volume traded in the last N seconds (sizes in base units).
``trades_<N>s``
    number of trades in the last N seconds.
``spread``
    (best ask - best bid) / mid, from the newest quote or book event.
``imbalance``
    (bid size - ask size) / (bid size + ask size) at the best level.
``imbalance_<K>``
    the same over the top K levels of the book (K from 1 to 50).

N is 1 to 86400. Time is the events' own time (``time_ns``), so replaying recorded events gives
the same features as receiving them live. A vector is available once every feature has data.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickcast.book.orderbook import OrderBook
from tickcast.model.events import BookDelta, BookSnapshot, Event, Quote, Trade
from tickcast.predict.spec import ModelError

_WINDOWED = re.compile(r"^(return|volume|trades)_([0-9]{1,5})s$")
_DEPTH = re.compile(r"^imbalance_([0-9]{1,2})$")
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    kind: str
    """return, volume, trades, spread or imbalance."""
    window_ns: int = 0
    depth: int = 1


def parse_feature(name: str) -> Feature:
    match = _WINDOWED.match(name)
    if match:
        seconds = int(match.group(2))
        if 1 <= seconds <= 86_400:
            return Feature(name, match.group(1), window_ns=seconds * _NS)
    if name == "spread":
        return Feature(name, "spread")
    if name == "imbalance":
        return Feature(name, "imbalance")
    match = _DEPTH.match(name)
    if match and 1 <= int(match.group(1)) <= 50:
        return Feature(name, "imbalance", depth=int(match.group(1)))
    raise ModelError(
        f"unknown live feature {name!r}: use return_<N>s, volume_<N>s, trades_<N>s, spread, "
        "imbalance or imbalance_<K> (docs/predictions.md)"
    )


def parse_features(names: Iterable[str]) -> tuple[Feature, ...]:
    return tuple(parse_feature(name) for name in names)


class FeatureComputer:
    """Features of one market from its trades, quotes and book events."""

    def __init__(self, market: str, features: Sequence[Feature], *, size_decimals: int) -> None:
        self.market = market
        self.features = tuple(features)
        self._size_scale = 10.0**size_decimals
        windows = [f.window_ns for f in self.features if f.window_ns]
        self._horizon = max(windows, default=0)
        self._trades: deque[tuple[int, int, int]] = deque()
        """(time_ns, price, size), oldest first; one trade older than the longest window kept."""
        self._uses_book = any(f.kind == "imbalance" and f.depth > 1 for f in self.features)
        self._book = OrderBook()
        self._best: tuple[int, int, int, int] | None = None
        """(bid price, bid size, ask price, ask size) of the newest quote or book event."""
        self.now_ns = 0

    def on_event(self, event: Event) -> bool:
        """Take one event; True if it concerned this market's features."""
        if getattr(event, "market", None) != self.market:
            return False
        match event:
            case Trade():
                self._trades.append((event.time_ns, event.price, event.size))
                self._prune(event.time_ns)
            case Quote():
                self._best = (event.bid_price, event.bid_size, event.ask_price, event.ask_size)
            case BookSnapshot():
                self._book.apply_snapshot(event.bids, event.asks)
                self._best_from_book()
            case BookDelta():
                self._book.apply_delta(event.bids, event.asks)
                self._best_from_book()
            case _:
                return False
        self.now_ns = max(self.now_ns, event.time_ns)
        return True

    def _best_from_book(self) -> None:
        bid, ask = self._book.best_bid(), self._book.best_ask()
        if bid is not None and ask is not None:
            self._best = (bid[0], bid[1], ask[0], ask[1])

    def _prune(self, now_ns: int) -> None:
        trades, horizon = self._trades, self._horizon
        while len(trades) > 1 and trades[1][0] <= now_ns - horizon:
            trades.popleft()

    def vector(self) -> list[float] | None:
        """The features in order, or None while one of them has no data yet."""
        out: list[float] = []
        for feature in self.features:
            value = self._value(feature)
            if value is None:
                return None
            out.append(value)
        return out

    def _value(self, feature: Feature) -> float | None:
        kind = feature.kind
        if kind in ("return", "volume", "trades"):
            if not self._trades:
                return None
            since = self.now_ns - feature.window_ns
            if kind == "return":
                reference = self._trades[0][1]
                for time_ns, price, _ in self._trades:
                    if time_ns > since:
                        break
                    reference = price
                return self._trades[-1][1] / reference - 1.0 if reference else 0.0
            recent = [size for time_ns, _, size in self._trades if time_ns > since]
            if kind == "trades":
                return float(len(recent))
            return sum(recent) / self._size_scale
        if kind == "spread":
            if self._best is None:
                return None
            bid, _, ask, _ = self._best
            mid = (bid + ask) / 2
            return (ask - bid) / mid if mid else 0.0
        if feature.depth > 1:
            top_bids, top_asks = self._book.top(feature.depth)
            bids = sum(size for _, size in top_bids)
            asks = sum(size for _, size in top_asks)
        else:
            if self._best is None:
                return None
            _, bids, _, asks = self._best
        total = bids + asks
        return (bids - asks) / total if total else 0.0


def labelled_rows(
    events: Iterable[Event],
    computer: FeatureComputer,
    *,
    horizon_s: float,
    model_type: str,
    flat_below: float = 0.0,
) -> list[dict[str, object]]:
    """Training rows from recorded events: at each trade, the features, and as ``target`` the
    return to the first trade at least ``horizon_s`` later (``reg``), or its direction
    ``up``/``down``/``flat`` (``class``; flat when |return| <= ``flat_below``)."""
    samples: list[tuple[int, int, list[float]]] = []
    prices: list[tuple[int, int]] = []
    for event in sorted(events, key=lambda e: e.time_ns):
        if not computer.on_event(event) or not isinstance(event, Trade):
            continue
        prices.append((event.time_ns, event.price))
        vector = computer.vector()
        if vector is not None:
            samples.append((event.time_ns, event.price, vector))
    horizon = int(horizon_s * _NS)
    rows: list[dict[str, object]] = []
    later = 0
    for time_ns, price, vector in samples:
        while later < len(prices) and prices[later][0] < time_ns + horizon:
            later += 1
        if later >= len(prices):
            break
        change = prices[later][1] / price - 1.0 if price else 0.0
        row: dict[str, object] = {f.name: v for f, v in zip(computer.features, vector, strict=True)}
        if model_type == "reg":
            row["target"] = change
        else:
            row["target"] = "flat" if abs(change) <= flat_below else "up" if change > 0 else "down"
        rows.append(row)
    return rows
