"""Replay building blocks without sockets: Binance book sync, pacing, specs, Tardis, markets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from tickcast.book import book_checksum
from tickcast.clock import ManualClock
from tickcast.errors import ConfigError
from tickcast.model import BookDelta, BookSnapshot, Event, MarketKind, Quote, Side, Trade
from tickcast.server.sources import build_sources
from tickcast.sources.replay import (
    BinanceBookSync,
    DepthEvent,
    ReplaySource,
    parse_spec,
    with_defaults,
)
from tickcast.sources.replay.markets import market_for, split_spot_symbol
from tickcast.sources.replay.pacing import Pacer
from tickcast.sources.replay.recording import RecordingDecoder

SPOT = Path(__file__).parents[2] / "fixtures/hftbacktest/binance-spot-btcusdt-20240808-head2500.gz"


def depth(first: int, last: int, previous: int | None = None, price: int = 100) -> DepthEvent:
    return DepthEvent(first, last, previous, ((price, first),), (), time_ns=last)


def test_spot_sync_drops_stale_buffered_events_and_applies_the_bridge() -> None:
    """Buffered events with u <= lastUpdateId are dropped; U <= id+1 <= u bridges; then U/u
    continuity is required."""
    sync = BinanceBookSync("m", futures=False)
    assert sync.depth(depth(90, 95)) == [] and sync.depth(depth(96, 101)) == []
    events = sync.snapshot(100, ((1, 1),), ((2, 1),), 5)
    assert [type(e) for e in events] == [BookSnapshot, BookDelta]
    assert events[1].bids == ((100, 96),)
    assert sync.depth(depth(98, 101)) == []  # stale
    assert isinstance(sync.depth(depth(102, 104))[0], BookDelta)
    assert sync.breaks == []


def test_spot_sync_reports_a_break_and_resyncs_on_the_next_snapshot() -> None:
    """U beyond local id + 1 is a break: recorded, an empty snapshot published, deltas held
    until the next snapshot."""
    sync = BinanceBookSync("m", futures=False)
    sync.snapshot(100, ((1, 1),), (), 5)
    assert isinstance(sync.depth(depth(101, 103))[0], BookDelta)
    [reset] = sync.depth(depth(110, 112))
    assert reset == BookSnapshot("m", (), (), 112)
    assert [(b.expected, b.got) for b in sync.breaks] == [(104, 110)]
    assert sync.depth(depth(113, 114)) == [] and not sync.synced
    events = sync.snapshot(113, ((1, 2),), (), 6)
    assert [type(e) for e in events] == [BookSnapshot, BookDelta] and sync.synced


def test_futures_sync_uses_pu_continuity() -> None:
    """Futures: drop u < lastUpdateId, the first event must have U <= id <= u, then pu == u."""
    sync = BinanceBookSync("f", futures=True)
    sync.depth(depth(80, 90, 79))
    sync.depth(depth(91, 105, 90))
    events = sync.snapshot(100, (), (), 1)
    assert [type(e) for e in events] == [BookSnapshot, BookDelta]
    assert isinstance(sync.depth(depth(106, 108, 105))[0], BookDelta)
    [reset] = sync.depth(depth(120, 121, 115))
    assert reset.bids == () and [(b.expected, b.got) for b in sync.breaks] == [(108, 115)]


def test_futures_snapshot_newer_than_every_event_is_a_break() -> None:
    """A first event with U > lastUpdateId cannot bridge the snapshot: reported."""
    sync = BinanceBookSync("f", futures=True)
    sync.snapshot(100, (), (), 1)
    assert sync.depth(depth(101, 103, 100))[0] == BookSnapshot("f", (), (), 103)
    assert sync.breaks[0].reason.startswith("snapshot not bridged")


def test_pacer_follows_local_times_at_speed() -> None:
    """speed=10: a message recorded 1 s after the first is due 0.1 s after it; max never waits."""
    clock = ManualClock()
    pacer = Pacer(clock=clock, speed=10)
    assert pacer.delay_ns(5_000_000_000) == 0
    assert pacer.delay_ns(6_000_000_000) == 100_000_000
    clock.advance(60_000_000)
    assert pacer.delay_ns(6_000_000_000) == 40_000_000
    clock.advance(1_000_000_000)
    assert pacer.delay_ns(6_500_000_000) == 0  # late: play at once
    pacer.restart()
    assert pacer.delay_ns(1) == 0
    assert Pacer(clock=clock, speed=None).delay_ns(10**18) == 0


def test_replay_spec_options_and_errors() -> None:
    """Options inside the spec; serve flags fill in only what the spec leaves out."""
    options = parse_spec("replay:/d/x.gz,speed=max,loop,wait=2,kind=future")
    assert (options.path, options.speed, options.loop, options.wait) == ("/d/x.gz", None, True, 2)
    assert options.kind is MarketKind.FUTURE and parse_spec("replay:x").speed == 1.0
    for bad in ("replay:", "replay:x,speed=0", "replay:x,speed=fast", "replay:x,colour=red"):
        with pytest.raises(ConfigError, match="sources"):
            parse_spec(bad)
    assert with_defaults("replay:x,speed=2", speed="max", loop=True) == "replay:x,speed=2,loop"
    assert with_defaults("simulator", speed="max") == "simulator"


def test_sources_refuse_a_market_from_two_sources() -> None:
    """The simulator and a Binance BTCUSDT spot replay both publish binance-btc-usdt-spot."""
    clock = ManualClock()
    with pytest.raises(ConfigError, match="binance-btc-usdt-spot.*exactly one source"):
        build_sources(["simulator", f"replay:{SPOT}"], seed=1, clock=clock)
    with pytest.raises(ConfigError, match="exactly one source"):
        build_sources([f"replay:{SPOT}", f"replay:{SPOT}"], seed=1, clock=clock)
    with pytest.raises(ConfigError, match="names no readable file"):
        build_sources(["replay:/nonexistent/*.gz"], seed=1, clock=clock)


def test_coin_metrics_market_ids() -> None:
    """Spot ids lower case base-quote; futures keep the venue symbol."""
    spot = market_for("binance", "BTCUSDT", MarketKind.SPOT, price_decimals=2, size_decimals=8)
    assert (spot.id, spot.base, spot.quote, spot.tick, spot.lot) == (
        "binance-btc-usdt-spot", "btc", "usdt", 1, 1000,
    )  # fmt: skip
    future = market_for("binance", "BTCUSD_PERP", MarketKind.FUTURE, price_decimals=1,
                        size_decimals=0)  # fmt: skip
    assert future.id == "binance-BTCUSD_PERP-future" and future.base == "btc"
    assert split_spot_symbol("ETH-USD") == ("eth", "usd")
    with pytest.raises(ConfigError):
        split_spot_symbol("XYZ")


TARDIS_BOOK = """exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
deribit,BTC-PERPETUAL,1000,1100,true,ask,6421.5,18640
deribit,BTC-PERPETUAL,1000,1100,true,bid,6421,1e+2
deribit,BTC-PERPETUAL,2000,2100,false,bid,6421,0
deribit,BTC-PERPETUAL,3000,3100,true,ask,6422.5,10
"""
TARDIS_TRADES = """exchange,symbol,timestamp,local_timestamp,id,side,price,amount
deribit,BTC-PERPETUAL,1500,1600,t1,unknown,6421.5,10
"""


def test_tardis_book_rows_group_and_a_new_snapshot_resets(tmp_path: Path) -> None:
    """Rows of one update form one event; is_snapshot after deltas is a new snapshot; exponent
    notation is exact; files merge by local_timestamp; an unknown side is replayed as buy."""
    (tmp_path / "book.csv").write_text(TARDIS_BOOK)
    (tmp_path / "trades.csv").write_text(TARDIS_TRADES)
    source = ReplaySource(parse_spec(f"replay:{tmp_path},speed=max"), clock=ManualClock())
    [market] = source.markets()
    assert (market.id, market.price_decimals, market.size_decimals) == (
        "deribit-BTC-PERPETUAL-future", 1, 0,
    )  # fmt: skip
    events: list[Event] = []

    async def sink(batch: Sequence[Event]) -> None:
        events.extend(batch)

    asyncio.run(source.run(sink))
    m = market.id
    assert events == [
        BookSnapshot(m, ((64210, 100),), ((64215, 18640),), 1_000_000),
        Trade(m, "t1", 64215, 10, Side.BUY, 1_500_000),
        BookDelta(m, ((64210, 0),), (), 2_000_000),
        BookSnapshot(m, (), ((64225, 10),), 3_000_000),
    ]


def test_binance_capture_events_use_exchange_times() -> None:
    """Trades carry T, spot quotes (no time of their own) the latest exchange time seen."""
    source = ReplaySource(parse_spec(f"replay:{SPOT},speed=max"), clock=ManualClock())
    events: list[Event] = []

    async def sink(batch: Sequence[Event]) -> None:
        events.extend(batch)

    asyncio.run(source.run(sink))
    first_trade = next(e for e in events if isinstance(e, Trade))
    assert (first_trade.id, first_trade.time_ns) == ("3735683259", 1723161255342 * 10**6)
    quotes = [e for e in events if isinstance(e, Quote)]
    assert quotes[0].time_ns == 1723161255308 * 10**6  # E of the depth update before it
    assert all(a.time_ns <= b.time_ns for a, b in zip(quotes, quotes[1:], strict=False))
    assert source.passes == 1 and source.published == len(events)


def test_loop_replays_again_with_times_moved_on(tmp_path: Path) -> None:
    """loop: the second pass repeats the first with event times shifted by the files' span
    rounded up to whole seconds (here 1 s), the book starting from its snapshot again."""
    (tmp_path / "book.csv").write_text(TARDIS_BOOK)
    source = ReplaySource(parse_spec(f"replay:{tmp_path},speed=max,loop"), clock=ManualClock())
    events: list[Event] = []

    class Enough(Exception):
        pass

    async def sink(batch: Sequence[Event]) -> None:
        events.extend(batch)
        if source.passes == 2:
            raise Enough

    with pytest.raises(Enough):
        asyncio.run(source.run(sink))
    first, second = events[:3], events[3:6]
    assert source.period_ns == 1_000_000_000
    assert [e.time_ns + 1_000_000_000 for e in first] == [e.time_ns for e in second]
    assert isinstance(second[0], BookSnapshot) and second[0].asks == first[0].asks


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.gz", "not a capture\n", "unknown format"),
        ("b.cap", '1 {"stream":"x@trade","data":{"e":"trade","s":"BTCUSDT"}}\n', "no field 'p'"),
        ("c.csv", TARDIS_TRADES.splitlines()[0] + "\nbinance,BTCUSDT,1,2\n", "do not match"),
    ],
)
def test_unreadable_files_stop_the_start_naming_the_record(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    """Bad files are a ConfigError at start, naming the file (and record) and what is wrong."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        ReplaySource(parse_spec(f"replay:{tmp_path / name}"), clock=ManualClock())
    assert name in str(error.value)


def test_recording_decoder_checks_recorded_book_checksums(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A recorded book message whose checksum does not match the rebuilt book is logged and
    counted; matching ones pass; a seq-0 snapshot (empty stream) is skipped."""
    market = market_for("binance", "BTCUSDT", MarketKind.SPOT, price_decimals=2, size_decimals=5)
    decoder = RecordingDecoder([market])
    stream = "book:binance-btc-usdt-spot"
    data = {"bids": [["100.00", "1.00000"]], "asks": [["101.00", "2.00000"]]}
    good = book_checksum(((10000, 100000),), ((10100, 200000),), price_decimals=2, size_decimals=5)

    def record(seq: int, checksum: int) -> dict[str, object]:
        return {"t": 5, "stream": stream, "type": "snapshot", "seq": seq, "data": data,
                "checksum": checksum}  # fmt: skip

    assert decoder.decode(record(0, good)) == []
    [event] = decoder.decode(record(1, good))
    assert event == BookSnapshot(market.id, ((10000, 100000),), ((10100, 200000),), 5)
    assert decoder.mismatches == 0
    decoder.decode(record(2, good + 1))
    assert decoder.mismatches == 1 and "seq 2 had checksum" in caplog.text
