"""Coin Metrics dialect without sockets: framing, parameters, encoders, paging."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tickcast.auth.plans import builtin_plans
from tickcast.dialects.coinmetrics.wire import framing, query, rest
from tickcast.dialects.coinmetrics.wire.encoders import MetricEncoder
from tickcast.dialects.coinmetrics.wire.errors import CmError
from tickcast.dialects.coinmetrics.wire.streams import EncoderSet, EncoderSpec, parse_stream_request
from tickcast.model import (
    AssetMetric,
    BookSnapshot,
    Market,
    MarketCatalog,
    MarketKind,
    Position,
    Quote,
    Side,
    StreamKind,
    StreamPosition,
    Trade,
)

SPOT = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)
COINBASE = Market(
    "coinbase-btc-usd-spot", "coinbase", MarketKind.SPOT, "btc", "usd", "BTC-USD", 2, 5
)
KRAKEN = Market("kraken-btc-usd-spot", "kraken", MarketKind.SPOT, "btc", "usd", "XBT/USD", 2, 5)
PERP = Market(
    "binance-BTCUSDT-future", "binance", MarketKind.FUTURE, "btc", "usdt", "BTCUSDT", 1, 3
)
CATALOG = MarketCatalog([SPOT, COINBASE, KRAKEN, PERP])
PLANS = builtin_plans()
T = 1_767_225_600_123_456_789


class State:
    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.metrics: dict[tuple[str, str], AssetMetric] = {}

    def quote(self, market: str) -> Quote | None:
        return self.quotes.get(market)

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        return self.metrics.get((asset, metric))

    def positions(self, market: str) -> Sequence[Position]:
        return ()


def encoders(state: State | None = None) -> EncoderSet:
    return EncoderSet(catalog=CATALOG, state=state or State(), now=lambda: T)


def messages(frame: bytes, first: int = 0) -> list[dict[str, object]]:
    payloads, _ = framing.number([frame], first)
    return [json.loads(p) for p in payloads]


def test_number_splices_the_connection_counter_into_shared_frames() -> None:
    trade = Trade(SPOT.id, "42", 8_725_012, 150_000, Side.BUY, T)
    frame = encoders().get(EncoderSpec("market-trades")).update_frame("s", 1, trade, None)
    assert frame.count(framing.SEQ) == 1
    payloads, next_id = framing.number([frame, frame, b"", b'{"warning":{}}'], 7)
    assert next_id == 9
    assert [json.loads(p).get("cm_sequence_id") for p in payloads] == ["7", "8", None]
    assert payloads[0] == (
        b'{"time":"2026-01-01T00:00:00.123456789Z","market":"binance-btc-usdt-spot",'
        b'"coin_metrics_id":"42","amount":"1.5","price":"87250.12",'
        b'"collect_time":"2026-01-01T00:00:00.123456789Z","side":"buy","cm_sequence_id":"7"}'
    )


def test_pretty_frames_keep_valid_json_and_several_records_per_frame() -> None:
    encoder = encoders().get(
        EncoderSpec("asset-metrics", pretty=True, metrics=frozenset({"PriceUSD"}))
    )
    metric = AssetMetric("btc", "PriceUSD", 8_725_000, 2, T)
    frame = framing.join([encoder.update_frame("m", 1, metric, None)] * 2)
    decoded = messages(frame, 3)
    assert decoded == [
        {"time": "2026-01-01T00:00:00.000000000Z", "asset": "btc", "PriceUSD": "87250",
         "cm_sequence_id": str(i)} for i in (3, 4)
    ]  # fmt: skip
    assert b'\n  "cm_sequence_id": "3"\n}' in framing.number([frame], 3)[0][0]


def test_metrics_of_one_asset_and_second_are_one_message_on_a_whole_second() -> None:
    spec = EncoderSpec("asset-metrics", metrics=frozenset({"PriceUSD", "ReferenceRateUSD"}))
    encoder = encoders().get(spec)
    assert isinstance(encoder, MetricEncoder)
    run = [
        AssetMetric("btc", "PriceUSD", 8_725_000, 2, T),
        AssetMetric("btc", "CapMrktCurUSD", 1, 0, T),
        AssetMetric("btc", "ReferenceRateUSD", 8_724_950, 2, T + 5),
        AssetMetric("btc", "PriceUSD", 8_726_000, 2, T + 1_000_000_000),
    ]
    assert messages(encoder.run_frame("metrics:btc", 4, run)) == [
        {"time": "2026-01-01T00:00:00.000000000Z", "asset": "btc", "PriceUSD": "87250",
         "ReferenceRateUSD": "87249.5", "cm_sequence_id": "0"},
        {"time": "2026-01-01T00:00:01.000000000Z", "asset": "btc", "PriceUSD": "87260",
         "cm_sequence_id": "1"},
    ]  # fmt: skip
    backfill = encoder.snapshot_frame("metrics:btc", StreamKind.METRICS, StreamPosition(4, "e"),
                                      run[:3], checksum=None, reset=False)  # fmt: skip
    assert [set(m) for m in messages(backfill)] == [
        {"time", "asset", "PriceUSD", "ReferenceRateUSD", "cm_sequence_id"}
    ]


def test_book_snapshot_and_quote_rules() -> None:
    books = encoders().get(EncoderSpec("market-orderbooks"))
    snapshot = BookSnapshot(SPOT.id, ((8_725_000, 10), (8_724_000, 0)), ((8_726_000, 100_000),), 0)
    frame = books.snapshot_frame("b", StreamKind.BOOK, StreamPosition(5, "e"), [snapshot],
                                 checksum=None, reset=False)  # fmt: skip
    (message,) = messages(frame)
    assert message["type"] == "snapshot" and message["time"] == "2026-01-01T00:00:00.123456789Z"
    assert message["bids"] == [
        {"price": "87250", "size": "0.0001"},
        {"price": "87240", "size": "0"},
    ]
    assert message["coin_metrics_id"] == "1767225600123456-5"
    one_sided = Quote(SPOT.id, 0, 0, 8_726_000, 5, T)
    assert encoders().get(EncoderSpec("market-quotes")).update_frame("q", 1, one_sided, None) == b""
    spec = EncoderSpec("market-quotes", include_one_sided=True)
    (quote,) = messages(encoders().get(spec).update_frame("q", 1, one_sided, None))
    assert "bid_price" not in quote and quote["ask_price"] == "87260"


def test_derived_streams() -> None:
    state = State()
    state.quotes[COINBASE.id] = Quote(COINBASE.id, 8_700_000, 100_000, 8_710_000, 200_000, T)
    state.quotes[KRAKEN.id] = Quote(KRAKEN.id, 8_705_000, 50_000, 8_720_000, 100_000, T)
    state.metrics[("btc", "ReferenceRateUSD")] = AssetMetric(
        "btc", "ReferenceRateUSD", 8_700_000, 2, T
    )
    pair = encoders(state).get(EncoderSpec("pair-quotes"))
    (message,) = messages(pair.update_frame("q", 1, state.quotes[KRAKEN.id], None))
    assert message == {
        "time": "2026-01-01T00:00:00.123456789Z", "pair": "btc-usd", "ask_price": "87100",
        "ask_size": "2", "bid_price": "87050", "bid_size": "0.5", "mid_price": "87075",
        "spread": "0.000574217628", "cm_sequence_id": "0",
    }  # fmt: skip
    index = encoders(state).get(EncoderSpec("index-levels"))
    (level,) = messages(
        index.update_frame("m", 1, state.metrics[("btc", "ReferenceRateUSD")], None)
    )
    assert level == {"index": "CMBIBTC", "level": "87000", "time": "2026-01-01T00:00:00.123456789Z",
                     "cm_sequence_id": "0"}  # fmt: skip
    liquidations = encoders(state).get(EncoderSpec("market-liquidations"))
    ordinary = Trade(PERP.id, "8", 870_000, 1_000, Side.SELL, T)
    assert liquidations.update_frame("t", 1, ordinary, None) == b""
    (fill,) = messages(
        liquidations.update_frame("t", 1, Trade(PERP.id, "27", 870_000, 1_000, Side.SELL, T), None)
    )
    assert fill["type"] == "trade" and fill["amount"] == "1"


def test_stream_request_parameters() -> None:
    pro, free = PLANS["pro"], PLANS["free"]
    params = query.parse_query("&markets=binance-%2A-spot%2C%2AUSDT-future&backfill=none")
    request = parse_stream_request("market-trades", params, catalog=CATALOG, plan=pro)
    assert [str(s.key) for s in request.subscriptions] == [
        "trades:binance-btc-usdt-spot", "trades:binance-BTCUSDT-future"]  # fmt: skip
    assert request.backfill is False
    books = parse_stream_request(
        "market-orderbooks", {"markets": SPOT.id, "depth_limit": "full_book"},
        catalog=CATALOG, plan=pro,
    )  # fmt: skip
    assert books.subscriptions[0].view.depth is None

    def error(endpoint: str, plan: str = "pro", **params: str) -> tuple[str, str]:
        with pytest.raises(CmError) as caught:
            parse_stream_request(endpoint, params, catalog=CATALOG, plan=PLANS[plan])
        return caught.value.type, caught.value.message

    assert error("market-trades", markets="x-*-spot")[1] == (
        "Bad parameter 'markets'. Market 'x-*-spot' is not supported.")  # fmt: skip
    assert error("market-trades", markets=SPOT.id, colour="red")[0] == "bad_parameter"
    assert error("market-trades")[1] == "Bad parameter 'markets'. Parameter is required."
    assert error("market-orderbooks", markets=SPOT.id, depth_limit="5")[0] == "bad_parameter"
    assert error("market-orderbooks", "free", markets=SPOT.id)[0] == "forbidden"
    assert error("market-trades", "free", markets=COINBASE.id)[0] == "forbidden"
    assert error("market-liquidations", markets=SPOT.id)[0] == "bad_parameter"
    assert error("market-trades", markets=SPOT.id, pretty="yes")[0] == "bad_parameter"
    narrowed = parse_stream_request("market-trades", {"markets": "*"}, catalog=CATALOG, plan=free)
    assert [s.key.subject for s in narrowed.subscriptions] == [SPOT.id]
    assert query.parse_query("a=1&&b=2") == {"a": "1", "b": "2"}
    with pytest.raises(CmError):
        query.parse_query("a=1&a=2")


def test_time_parsing_and_paging() -> None:
    assert rest.parse_time("t", "2026-01-01") == 1_767_225_600_000_000_000
    assert rest.parse_time("t", "2026-01-01T00:00:00.123456789Z") == T
    assert rest.parse_time("t", "2026-01-01T01:00:00+01:00") == 1_767_225_600_000_000_000
    with pytest.raises(CmError):
        rest.parse_time("start_time", "yesterday")
    items = [rest.Item(entity, rid, {"n": rid}) for entity, rid in
             (("a", 1), ("a", 3), ("b", 2), ("b", 4), ("b", 5))]  # fmt: skip
    order = ["a", "b"]
    seen: list[object] = []
    token = None
    while True:
        pages = rest.Paging(2, True, rest.decode_token(token) if token else None, False)
        rows, token = rest.page(items, order, pages)
        assert rows
        seen.extend(row["n"] for row in rows)
        if token is None:
            break
    assert seen == [1, 3, 2, 4, 5]
    backwards: list[list[object]] = []
    token = None
    while True:
        pages = rest.Paging(2, False, rest.decode_token(token) if token else None, False)
        rows, token = rest.page(items, order, pages)
        backwards.append([row["n"] for row in rows])
        if token is None:
            break
    assert backwards == [[4, 5], [3, 2], [1]]
    assert rest.limit_each(items, 1, from_start=False) == [items[1], items[4]]
    assert b"".join(rest.ndjson([{"a": "1"}, {"b": "2"}])) == b'{"a":"1"}\n{"b":"2"}\n'
