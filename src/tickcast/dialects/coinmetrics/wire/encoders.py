"""Events → Coin Metrics stream messages, encoded once per (endpoint variant, stream).

Each encoder implements the hub's ``Encoder`` protocol and returns *frames* as described in
``framing``: records with a ``cm_sequence_id`` placeholder, ``b""`` for events the variant does
not show. Field names, field order and string values follow protocols §1.4. An encoder's
``name`` names its variant (endpoint, options, pretty) so the hub groups connections that can
share bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tickcast.dialects.coinmetrics.wire import derive
from tickcast.dialects.coinmetrics.wire.framing import data_record, join
from tickcast.dialects.coinmetrics.wire.values import cm_id, decimal, number, timestamp
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Event,
    Level,
    MarketCatalog,
    Quote,
    StreamKind,
    StreamPosition,
    Trade,
)
from tickcast.model.numbers import to_decimal

Row = dict[str, Any]
SECOND_NS = 1_000_000_000
Now = Callable[[], int]


class CmEncoder:
    """Base: subclasses turn one event into zero or more rows (dicts of strings)."""

    endpoint = ""

    def __init__(
        self,
        *,
        catalog: MarketCatalog,
        state: derive.MarketState,
        now: Now,
        pretty: bool = False,
        options: str = "",
    ) -> None:
        self.catalog = catalog
        self.state = state
        self.now = now
        self.pretty = pretty
        self.name = f"cm/{self.endpoint}/{options}/{'pretty' if pretty else 'compact'}"
        self._option = orjson.OPT_INDENT_2 if pretty else 0

    # -- hub Encoder protocol ----------------------------------------------------------------

    def update_frame(
        self,
        stream: str,
        seq: int,
        event: Event,
        checksum: int | None,
        prev: int | None = None,
        published_ns: int = 0,
    ) -> bytes:
        return self.frame(self.rows(event, seq))

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
        return self.frame(self.snapshot_rows(events, position.seq))

    def gap_frame(self, stream: str, epoch: str, from_seq: int, to_seq: int, reason: str) -> bytes:
        """The dialect cannot express a gap (backfill only asks for what history holds)."""
        return b""

    # -- helpers -----------------------------------------------------------------------------

    def frame(self, rows: Sequence[Row]) -> bytes:
        if not rows:
            return b""
        dumps, option, pretty = orjson.dumps, self._option, self.pretty
        return join(data_record(dumps(row, option=option), pretty=pretty) for row in rows)

    def rows(self, event: Event, seq: int) -> list[Row]:
        raise NotImplementedError

    def snapshot_rows(self, events: Sequence[Event], seq: int) -> list[Row]:
        rows: list[Row] = []
        for event in events:
            rows.extend(self.rows(event, seq))
        return rows

    def decimals(self, market: str) -> tuple[int, int]:
        found = self.catalog.find(market)
        return (found.price_decimals, found.size_decimals) if found else (0, 0)


def trade_row(trade: Trade, price_decimals: int, size_decimals: int, *, rest: bool) -> Row:
    time = timestamp(trade.time_ns)
    return {
        "time": time,
        "market": trade.market,
        "coin_metrics_id": trade.id,
        "amount": number(trade.size, size_decimals),
        "price": number(trade.price, price_decimals),
        "database_time" if rest else "collect_time": time,
        "side": trade.side.value,
    }


def _levels(levels: Sequence[Level], pd: int, sd: int) -> list[dict[str, str]]:
    return [{"price": number(p, pd), "size": number(s, sd)} for p, s in levels]


def book_row(
    market: str,
    bids: Sequence[Level],
    asks: Sequence[Level],
    time_ns: int,
    seq: int,
    pd: int,
    sd: int,
) -> Row:
    return {
        "time": timestamp(time_ns),
        "market": market,
        "coin_metrics_id": cm_id(time_ns, seq),
        "asks": _levels(asks, pd, sd),
        "bids": _levels(bids, pd, sd),
    }


def quote_row(quote: Quote, seq: int, pd: int, sd: int, *, one_sided: bool) -> Row | None:
    has_ask, has_bid = quote.ask_size > 0, quote.bid_size > 0
    if not (has_ask and has_bid) and not (one_sided and (has_ask or has_bid)):
        return None
    row: Row = {
        "time": timestamp(quote.time_ns),
        "market": quote.market,
        "coin_metrics_id": cm_id(quote.time_ns, seq),
    }
    if has_ask:
        row["ask_price"] = number(quote.ask_price, pd)
        row["ask_size"] = number(quote.ask_size, sd)
    if has_bid:
        row["bid_price"] = number(quote.bid_price, pd)
        row["bid_size"] = number(quote.bid_size, sd)
    return row


def candle_row(candle: Candle, pd: int, sd: int) -> Row:
    volume = to_decimal(candle.volume, sd)
    notional = to_decimal(candle.quote_volume, pd)
    vwap = notional / volume if volume else to_decimal(candle.close, pd)
    return {
        "market": candle.market,
        "time": timestamp(candle.start_ns),
        "price_open": number(candle.open, pd),
        "price_close": number(candle.close, pd),
        "price_high": number(candle.high, pd),
        "price_low": number(candle.low, pd),
        "vwap": decimal(vwap),
        "volume": number(candle.volume, sd),
        "candle_usd_volume": decimal(notional),
        "candle_trades_count": str(candle.trades),
    }


def index_row(metric: AssetMetric) -> Row:
    return {
        "index": derive.index_name(metric.asset),
        "level": number(metric.value, metric.decimals),
        "time": timestamp(metric.time_ns),
    }


class TradeEncoder(CmEncoder):
    endpoint = "market-trades"

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Trade):
            return []
        return [trade_row(event, *self.decimals(event.market), rest=False)]


class LiquidationEncoder(CmEncoder):
    endpoint = "market-liquidations"

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Trade) or not derive.is_liquidation(event):
            return []
        pd, sd = self.decimals(event.market)
        return [
            {
                "market": event.market,
                "time": timestamp(event.time_ns),
                "coin_metrics_id": event.id,
                "amount": number(event.size, sd),
                "price": number(event.price, pd),
                "type": "trade",
                "side": event.side.value,
            }
        ]


class BookEncoder(CmEncoder):
    endpoint = "market-orderbooks"

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, BookSnapshot | BookDelta):
            return []
        kind = "snapshot" if isinstance(event, BookSnapshot) else "update"
        time_ns = event.time_ns or self.now()
        row = book_row(
            event.market, event.bids, event.asks, time_ns, seq, *self.decimals(event.market)
        )
        row["type"] = kind
        row["collect_time"] = timestamp(time_ns)
        return [row]


class QuoteEncoder(CmEncoder):
    endpoint = "market-quotes"

    def __init__(self, *, include_one_sided: bool, **kwargs: Any) -> None:
        super().__init__(options=f"one_sided={include_one_sided}", **kwargs)
        self.include_one_sided = include_one_sided

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Quote):
            return []
        row = quote_row(event, seq, *self.decimals(event.market), one_sided=self.include_one_sided)
        return [row] if row else []


class CandleEncoder(CmEncoder):
    endpoint = "market-candles"

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, Candle):
            return []
        return [candle_row(event, *self.decimals(event.market))]


class MetricEncoder(CmEncoder):
    """One message per (asset, second) with every requested metric that has a value then.

    Times fall on whole seconds (the ``1s`` frequency, as in REST). The hub hands the encoder a
    run of the stream's consecutive events in one bus batch (``run_frame``), so the metrics a
    source publishes together are one message; the backfill does the same with the latest value
    of each metric.
    """

    endpoint = "asset-metrics"

    def __init__(self, *, metrics: frozenset[str], **kwargs: Any) -> None:
        super().__init__(options=",".join(sorted(metrics)), **kwargs)
        self.metrics = metrics

    def rows(self, event: Event, seq: int) -> list[Row]:
        return self.snapshot_rows((event,), seq)

    def run_frame(self, stream: str, seq: int, events: Sequence[Event]) -> bytes:
        return self.frame(self.snapshot_rows(events, seq))

    def snapshot_rows(self, events: Sequence[Event], seq: int) -> list[Row]:
        by_second: dict[int, dict[str, AssetMetric]] = {}
        for event in events:
            if isinstance(event, AssetMetric) and event.metric in self.metrics:
                second = event.time_ns - event.time_ns % SECOND_NS
                by_second.setdefault(second, {})[event.metric] = event
        rows: list[Row] = []
        for second in sorted(by_second):
            found = by_second[second]
            row: Row = {"time": timestamp(second), "asset": next(iter(found.values())).asset}
            for name in sorted(found):
                row[name] = number(found[name].value, found[name].decimals)
            rows.append(row)
        return rows


class IndexEncoder(CmEncoder):
    endpoint = "index-levels"

    def rows(self, event: Event, seq: int) -> list[Row]:
        if not isinstance(event, AssetMetric) or event.metric != derive.INDEX_METRIC:
            return []
        return [index_row(event)]
