"""Connector framework and Binance feed, sans-I/O: specs, backoff, rate limits, feed commands."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from tickcast.clock import ManualClock
from tickcast.errors import ConfigError
from tickcast.model.events import BookDelta, BookSnapshot, Event, Quote, Side, Trade
from tickcast.model.numbers import parse_fixed
from tickcast.sources.connectors.backfill import recovered
from tickcast.sources.connectors.binance import BinanceFeed, _fixed
from tickcast.sources.connectors.binance_info import COINM, SPOT, USDM, instruments, select
from tickcast.sources.connectors.health import Backoff, ConnectorHealth, RateLimiter
from tickcast.sources.connectors.inputs import Tick
from tickcast.sources.connectors.protocol import (
    FetchSnapshot,
    Publish,
    Reconnect,
    Resynced,
    Send,
    TradesLost,
)
from tickcast.sources.connectors.registry import VENUES, build_connector, is_connector_spec
from tickcast.sources.connectors.runner import _Connection, _Reconnect
from tickcast.sources.connectors.spec import parse_connector_spec
from tickcast.sources.replay import BinanceBookSync, DepthEvent

INFO = Path(__file__).parent.parent.parent / "fixtures" / "connectors"
S = 1_000_000_000


async def drop(events: Sequence[Event]) -> None:
    """A sink that drops what it is given."""


def spot_feed(stale_ns: int = 10 * S) -> BinanceFeed:
    listed = instruments(SPOT, (INFO / "binance-spot-exchange-info.json").read_bytes())
    return BinanceFeed(SPOT, select(SPOT, listed, ["btc-usdt"]), stale_ns=stale_ns)


def frame(stream: str, **data: object) -> str:
    return json.dumps({"stream": stream, "data": data})


def trade(t: int) -> str:
    return frame("btcusdt@trade", e="trade", E=1, T=2, s="BTCUSDT", t=t, p="1.00", q="2", m=True)


def depth(first: int, last: int, price: str = "10.00") -> str:
    return frame(
        "btcusdt@depth@100ms", e="depthUpdate", E=5, s="BTCUSDT", U=first, u=last,
        b=[[price, "1.5"]], a=[],
    )  # fmt: skip


def test_spec_parsing_symbols_and_options() -> None:
    spec = parse_connector_spec("binance:btc-usdt,eth-usdt,ws=ws://h:1/s,rest=http://h:2,stale=2")
    assert spec.symbols == ("btc-usdt", "eth-usdt") and spec.ws == "ws://h:1/s"
    assert (spec.rest, spec.stale_s, spec.per_connection) == ("http://h:2", 2.0, None)
    with pytest.raises(ConfigError, match="unknown option 'wss'"):
        parse_connector_spec("binance:btc-usdt,wss=x")
    with pytest.raises(ConfigError, match="name the instruments"):
        parse_connector_spec("binance-usdm:ws=x")
    with pytest.raises(ConfigError, match="must be positive"):
        parse_connector_spec("binance:all,per_connection=0")


def test_registry_knows_the_three_binance_venues() -> None:
    assert {"binance", "binance-usdm", "binance-coinm"} <= set(VENUES)
    assert is_connector_spec("binance-coinm:BTCUSD_PERP") and not is_connector_spec("replay:x")
    source = build_connector("binance-usdm:BTCUSDT")
    assert source.ws_url == "wss://fstream.binance.com/stream"
    assert source.rest_url == "https://fapi.binance.com"
    assert VENUES["binance"].instruments_per_connection == 1024 // 3


def test_exchange_info_gives_coin_metrics_markets_with_real_tick_and_lot() -> None:
    """Only TRADING instruments; spot ids lower case, futures symbols verbatim; decimals the
    finer of tick/lot and the venue's printed precision."""
    spot = instruments(SPOT, (INFO / "binance-spot-exchange-info.json").read_bytes())
    assert [i.venue_symbol for i in spot] == ["BTCUSDT", "ETHUSDT"]  # LUNAUSDT is in BREAK
    btc = spot[0].market
    assert (btc.id, btc.price_decimals, btc.size_decimals, btc.tick, btc.lot) == (
        "binance-btc-usdt-spot", 2, 8, 1, 1000,
    )  # fmt: skip
    coinm = instruments(COINM, (INFO / "binance-coinm-exchange-info.json").read_bytes())
    perp = coinm[0].market
    assert (perp.id, perp.price_decimals, perp.size_decimals, perp.quote) == (
        "binance-BTCUSD_PERP-future", 1, 0, "usd",
    )  # fmt: skip
    usdm = instruments(USDM, (INFO / "binance-usdm-exchange-info.json").read_bytes())
    assert [i.market.id for i in select(USDM, usdm, ["all"])] == [
        "binance-BTCUSDT-future", "binance-ETHUSDT-future",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="lists no instrument 'doge-usdt'"):
        select(SPOT, spot, ["doge-usdt"])


def test_backoff_is_exponential_with_jitter_capped_and_reset() -> None:
    backoff = Backoff(random.Random(7), base_s=1.0, cap_s=8.0)
    delays = [backoff.next_delay() for _ in range(6)]
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert delays == [
        Backoff(random.Random(7), base_s=1.0, cap_s=8.0).next_delay(),
        *delays[1:],
    ]  # same seed, same delays
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_rate_limiter_spends_the_minute_budget_then_waits() -> None:
    limiter = RateLimiter(per_minute=60)  # one weight per second
    assert limiter.reserve(50, 0) == 0.0
    assert limiter.reserve(10, 0) == 0.0
    assert limiter.reserve(5, 0) == pytest.approx(5.0)
    assert limiter.reserve(1, 10 * S) == pytest.approx(0.0)  # 10 s refilled 10


def test_health_state_and_lag_histogram() -> None:
    health = ConnectorHealth("binance:btc-usdt", connections=2, live=1)
    assert health.state == "degraded"
    health.lag(recv_ns=3 * S, venue_ns=S)
    assert health.lag_count == 1 and health.lag_sum_s == 2.0
    assert health.lag_buckets[9] == 1  # (1 s, 2.5 s]


def test_feed_subscribes_then_asks_a_snapshot_on_the_first_depth_event() -> None:
    feed = spot_feed()
    [send] = feed.connected()
    assert isinstance(send, Send)
    assert json.loads(send.text)["params"] == [
        "btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@bookTicker",
    ]  # fmt: skip
    assert feed.receive('{"result":null,"id":1}', 1) == []
    [fetch] = feed.receive(depth(100, 105), 2)
    assert fetch == FetchSnapshot("BTCUSDT", "/api/v3/depth?symbol=BTCUSDT&limit=1000", 50)
    assert feed.receive(depth(106, 107), 3) == []  # buffered, no second request
    body = b'{"lastUpdateId":104,"bids":[["9.00","1"]],"asks":[["11.00","2"]]}'
    [publish] = feed.rest_snapshot("BTCUSDT", body, 4)
    assert isinstance(publish, Publish)
    assert [type(e) for e in publish.events] == [BookSnapshot, BookDelta, BookDelta]


def test_feed_refuses_a_snapshot_older_than_its_buffer_and_asks_again() -> None:
    feed = spot_feed()
    feed.connected()
    feed.receive(depth(100, 105), 1)
    old = b'{"lastUpdateId":90,"bids":[],"asks":[]}'
    commands = feed.rest_snapshot("BTCUSDT", old, 2)
    assert [type(c) for c in commands] == [Resynced, FetchSnapshot]  # nothing published


def test_feed_reports_a_broken_depth_chain_with_a_reset() -> None:
    feed = spot_feed()
    feed.connected()
    feed.receive(depth(100, 105), 1)
    feed.rest_snapshot("BTCUSDT", b'{"lastUpdateId":104,"bids":[],"asks":[]}', 2)
    publish, resynced, fetch = feed.receive(depth(110, 112), 3)
    assert isinstance(publish, Publish) and isinstance(resynced, Resynced)
    assert publish.events[0] == BookSnapshot("binance-btc-usdt-spot", (), (), 5_000_000)
    assert isinstance(fetch, FetchSnapshot)


def test_feed_checks_trade_ids() -> None:
    """Consecutive ids pass, a repeat is dropped, a jump reports the lost range first."""
    feed = spot_feed()
    feed.connected()
    [first] = feed.receive(trade(10), 1)
    assert isinstance(first, Publish) and isinstance(first.events[0], Trade)
    assert feed.receive(trade(10), 2) == []
    lost, publish = feed.receive(trade(14), 3)
    assert lost == TradesLost(
        "binance-btc-usdt-spot", "trade ids 11..13 not received", "10", before_trade_id="14"
    )
    assert isinstance(publish, Publish) and publish.events[0].side.value == "sell"


def test_feed_quotes_skip_older_updates() -> None:
    feed = spot_feed()
    quote = {"s": "BTCUSDT", "b": "1.00", "B": "1", "a": "2.00", "A": "3"}
    [publish] = feed.receive(frame("btcusdt@bookTicker", u=5, **quote), 1)
    assert isinstance(publish, Publish) and isinstance(publish.events[0], Quote)
    assert feed.receive(frame("btcusdt@bookTicker", u=4, **quote), 2) == []


def test_feed_goes_stale_and_resets_books_on_disconnect() -> None:
    feed = spot_feed(stale_ns=2 * S)
    feed.connected()
    assert feed.heartbeat(10 * S) == []
    feed.receive(depth(100, 105), 11 * S)
    assert feed.heartbeat(12 * S) == []
    [reconnect] = feed.heartbeat(14 * S)
    assert isinstance(reconnect, Reconnect) and "no message for 3.0 s" in reconnect.reason
    feed.rest_snapshot("BTCUSDT", b'{"lastUpdateId":104,"bids":[],"asks":[]}', 15 * S)
    [publish] = feed.disconnected(16 * S)
    assert isinstance(publish, Publish) and publish.events[0].bids == ()


def test_venue_error_reconnects() -> None:
    feed = spot_feed()
    [command] = feed.receive('{"error":{"code":2,"msg":"Invalid request"},"id":1}', 1)
    assert isinstance(command, Reconnect)


def test_spot_sync_refuses_a_stale_snapshot_and_keeps_its_buffer() -> None:
    sync = BinanceBookSync("m", futures=False)
    sync.depth(DepthEvent(100, 105, None, ((1, 1),), (), 1))
    assert sync.snapshot(90, (), (), 2) == [] and not sync.synced
    assert sync.breaks[0].reason == "snapshot older than the buffered updates"
    events = sync.snapshot(102, (), (), 3)
    assert [type(e) for e in events] == [BookSnapshot, BookDelta]


@pytest.mark.parametrize(
    ("text", "decimals", "value"),
    [("61800.20", 2, 6180020), ("7", 0, 7), ("0.00105000", 8, 105000), ("1.5", 3, 1500),
     ("25.42618900", 6, 25426189)],
)  # fmt: skip
def test_fast_fixed_parse_agrees_with_parse_fixed(text: str, decimals: int, value: int) -> None:
    assert _fixed(text, decimals) == value == parse_fixed(text, decimals)


@pytest.mark.parametrize("text", ["1_000.00", "1.0a", " 1.00", "1.001"])
def test_fast_fixed_parse_refuses_what_parse_fixed_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        _fixed(text, 2)


async def test_runner_spaces_sends_by_the_venue_limit() -> None:
    """Binance spot takes 5 messages/s per connection: Sends go out at most 4 per second."""
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(int(seconds * S))

    source = build_connector("binance:btc-usdt", clock=clock, sleep=sleep)
    connection = _Connection(source, [], drop)
    for _ in range(3):
        await connection._pace()
    clock.advance(S)
    await connection._pace()
    assert slept == [0.25, 0.25]


def test_runner_reconnects_on_schedule_before_the_venue_does() -> None:
    """Binance closes connections after 24 h: the tick after 23.5 h asks for a reconnect."""
    clock = ManualClock()
    source = build_connector("binance:btc-usdt", clock=clock)
    connection = _Connection(source, [], drop)
    opened = clock.monotonic_ns()
    clock.advance(23 * 3600 * S)
    assert connection._input(Tick(), opened) == []
    clock.advance(3600 * S)
    with pytest.raises(_Reconnect, match="scheduled reconnect after 86400 s"):
        connection._input(Tick(), opened)


def _trades(*ids: int) -> list[Trade]:
    return [Trade("m", str(i), 1, 1, Side.BUY, i) for i in ids]


def test_backfill_takes_the_trades_strictly_inside_the_loss() -> None:
    lost = TradesLost("m", "jump", "10", before_trade_id="14")
    assert recovered(lost, _trades(9, 10, 11, 12, 13, 14, 15)) == (_trades(11, 12, 13), None)
    assert recovered(lost, _trades(12, 13, 14)) == (
        _trades(12, 13), "REST recent trades do not reach back far enough",
    )  # fmt: skip
    assert recovered(lost, _trades(11, 12)) == (
        _trades(11, 12), "REST recent trades end before the live ones",
    )  # fmt: skip
    assert recovered(lost, None) == ([], "the REST backfill failed")
    no_bound = TradesLost("m", "reconnect", "10")
    assert recovered(no_bound, _trades(11, 12)) == (_trades(11, 12), None)


def test_kraken_and_coinbase_specs_resolve_against_their_instrument_lists() -> None:
    """kraken:XBT/USD finds BTC/USD (XBT is Kraken's old name); coinbase:btc/usd finds BTC-USD."""
    kraken_listed = VENUES["kraken"].parse_instruments(
        (INFO / "kraken/asset-pairs.json").read_bytes()
    )
    [btc] = VENUES["kraken"].select(kraken_listed, ["XBT/USD"])
    assert btc.market.id == "kraken-btc-usd-spot"
    products = (INFO / "coinbase/exchange-products.json").read_bytes()
    coinbase_listed = VENUES["coinbase"].parse_instruments(products)
    symbol = coinbase_listed[0].venue_symbol
    [found] = VENUES["coinbase"].select(coinbase_listed, [symbol.lower().replace("-", "/")])
    assert found.venue_symbol == symbol
    with pytest.raises(ConfigError, match="kraken lists no instrument 'FOO/BAR'"):
        VENUES["kraken"].select(kraken_listed, ["FOO/BAR"])


def test_okx_reads_three_instrument_lists() -> None:
    okx = VENUES["okx"]
    assert okx.info_path.endswith("instType=SPOT")
    assert [p.rpartition("=")[2] for p in okx.more_info_paths] == ["SWAP", "FUTURES"]
