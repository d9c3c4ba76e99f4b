"""Coin Metrics encoders of derived values: pair and asset quotes (best bid/ask aggregated over
markets), open interest and contract prices. The ``Encoder`` protocol and the per-event
encoders are in ``encoders``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tickcast.dialects.coinmetrics.wire import derive
from tickcast.dialects.coinmetrics.wire.encoders import CmEncoder, Row
from tickcast.dialects.coinmetrics.wire.values import decimal, number, timestamp
from tickcast.model import (
    Event,
    Position,
    Quote,
)
from tickcast.model.numbers import to_decimal


class _AggregateEncoder(CmEncoder):
    """Pair and asset quotes: the aggregated top of book after a quote of one member market."""

    key_field = ""

    def group(self, market: str) -> tuple[str, list[str]] | None:
        raise NotImplementedError

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Quote):
            return []
        found = self.group(event.market)
        if found is None:
            return []
        name, markets = found
        best = derive.aggregate(self.catalog, self.state, markets)
        if best is None:
            return []
        return [
            {
                "time": timestamp(event.time_ns),
                self.key_field: name,
                "ask_price": decimal(best.ask_price),
                "ask_size": decimal(best.ask_size),
                "bid_price": decimal(best.bid_price),
                "bid_size": decimal(best.bid_size),
                "mid_price": decimal(best.mid),
                "spread": decimal(best.spread),
            }
        ]


class PairQuoteEncoder(_AggregateEncoder):
    endpoint = "pair-quotes"
    key_field = "pair"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pairs = derive.pair_markets(self.catalog)

    def group(self, market: str) -> tuple[str, list[str]] | None:
        found = self.catalog.find(market)
        if found is None:
            return None
        pair = derive.pair_of(found)
        return pair, self._pairs.get(pair, [])


class AssetQuoteEncoder(_AggregateEncoder):
    endpoint = "asset-quotes"
    key_field = "asset"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._assets = derive.asset_quote_markets(self.catalog)

    def group(self, market: str) -> tuple[str, list[str]] | None:
        found = self.catalog.find(market)
        if found is None or found.base not in self._assets:
            return None
        return found.base, self._assets[found.base]


class OpenInterestEncoder(CmEncoder):
    """A message whenever a position change alters the market's open interest."""

    endpoint = "market-openinterest"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last: dict[str, int] = {}

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Position):
            return []
        total, mark = derive.open_interest(self.state.positions(event.market))
        if self._last.get(event.market) == total:
            return []
        self._last[event.market] = total
        return [self._row(event.market, total, mark, event.time_ns)]

    def snapshot_rows(self, events: Sequence[Event], seq: int) -> list[Row]:
        positions = [e for e in events if isinstance(e, Position)]
        if not positions:
            return []
        total, mark = derive.open_interest(positions)
        market = positions[0].market
        self._last[market] = total
        return [self._row(market, total, mark, max(p.time_ns for p in positions))]

    def _row(self, market: str, total: int, mark: int, time_ns: int) -> Row:
        pd, sd = self.decimals(market)
        count = to_decimal(total, sd)
        time = timestamp(time_ns)
        return {
            "market": market,
            "time": time,
            "contract_count": number(total, sd),
            "value_usd": decimal(count * to_decimal(mark, pd), 6),
            "exchange_time": time,
        }


CONTRACT_PRICE_INTERVAL_NS = 1_000_000_000
"""Contract prices of one market are sent at most once per second."""


class ContractPriceEncoder(CmEncoder):
    endpoint = "market-contract-prices"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sent: dict[str, int] = {}

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Quote) or not (event.bid_size > 0 and event.ask_size > 0):
            return []
        last = self._sent.get(event.market)
        if last is not None and event.time_ns - last < CONTRACT_PRICE_INTERVAL_NS:
            return []
        row = self._row(event)
        if row is not None:
            self._sent[event.market] = event.time_ns
        return [row] if row else []

    def snapshot_rows(self, events: Sequence[Event], seq: int) -> list[Row]:
        quotes = [e for e in events if isinstance(e, Quote)]
        row = self._row(quotes[-1]) if quotes else None
        return [row] if row else []

    def _row(self, quote: Quote) -> Row | None:
        market = self.catalog.find(quote.market)
        if market is None or not (quote.bid_size > 0 and quote.ask_size > 0):
            return None
        pd = market.price_decimals
        mark = (to_decimal(quote.bid_price, pd) + to_decimal(quote.ask_price, pd)) / 2
        reference = self.state.metric(market.base, derive.INDEX_METRIC)
        index = to_decimal(reference.value, reference.decimals) if reference else mark
        time = timestamp(quote.time_ns)
        return {
            "market": quote.market,
            "time": time,
            "mark_price": decimal(mark, pd + 1),
            "index_price": decimal(index, 8),
            "settlement_price_estimated": decimal(index, 8),
            "exchange_time": time,
        }
