"""The simulated exchange as a whole."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from tickcast.clock import ManualClock
from tickcast.errors import ConfigError
from tickcast.model.events import (
    AssetMetric,
    BookSnapshot,
    Candle,
    Event,
    Order,
    Position,
    Ticker,
    Trade,
)
from tickcast.sources import Simulator, Source
from tickcast.sources.simulator import CALM_RATE, MAX_EVENTS_PER_PASS, STRESS_RATE
from tickcast.sources.universe import default_markets

MS = 1_000_000
HEX64 = re.compile(r"[0-9a-f]{64}")


def run_steps(sim: Simulator, clock: ManualClock, steps: int, every_ns: int) -> list[Event]:
    """Initial snapshots, then ``steps`` steps with the clock advancing between them."""
    events = sim.initial_events()
    for _ in range(steps):
        clock.advance(every_ns)
        events.extend(sim.step(clock.time_ns()))
    return events


def count_polled(sim: Simulator, clock: ManualClock, seconds: int) -> int:
    """Events produced by polling every 20 ms for ``seconds`` of simulated time."""
    sim.initial_events()
    sim.poll()
    total = 0
    for _ in range(seconds * 50):
        clock.advance(20 * MS)
        total += len(sim.poll())
    return total


def test_simulator_is_a_source() -> None:
    """The simulator satisfies the Source protocol and lists its markets."""
    sim = Simulator(clock=ManualClock())
    assert isinstance(sim, Source)
    assert sim.name == "simulator"
    assert [m.id for m in sim.markets()] == [m.id for m in default_markets()]


def test_simulator_is_deterministic() -> None:
    """Same seed and same times give identical events; another seed does not."""
    runs = []
    for seed in (5, 5, 6):
        clock = ManualClock()
        runs.append(run_steps(Simulator(seed=seed, clock=clock), clock, 1500, 7 * MS))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_simulator_initial_snapshots_are_deep() -> None:
    """One uncrossed snapshot per market, at least 20 levels a side, at clock time."""
    clock = ManualClock()
    events = Simulator(clock=clock).initial_events()
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    assert len(snapshots) == len(default_markets())
    for snapshot in snapshots:
        assert isinstance(snapshot, BookSnapshot)
        assert snapshot.time_ns == clock.time_ns()
        assert min(len(snapshot.bids), len(snapshot.asks)) >= 20
        assert snapshot.bids[0][0] < snapshot.asks[0][0]


async def test_simulator_prices_every_asset_from_the_first_instant() -> None:
    """Before any trade, the primed events hold a ticker and both metrics of every asset, at
    the opening mid of its markets; ``run`` does not publish them a second time."""
    clock = ManualClock()
    sim = Simulator(clock=clock)
    events = sim.prime()
    assert not any(isinstance(e, Trade) for e in events)
    assets = {m.base for m in default_markets()}
    tickers = {e.asset: e for e in events if isinstance(e, Ticker)}
    assert set(tickers) == assets and len(assets) >= 20
    metrics = {(e.asset, e.metric) for e in events if isinstance(e, AssetMetric)}
    assert metrics == {(a, m) for a in assets for m in ("PriceUSD", "ReferenceRateUSD")}
    for ticker in tickers.values():
        assert ticker.price > 0 and ticker.open_24h == ticker.price and ticker.volume_24h == 0
    sim.poll()  # starts the pacing; the run's first poll then has 50 ms of steps due
    clock.advance(50 * MS)
    batches: list[Sequence[Event]] = []

    class Stop(Exception):
        pass

    async def sink(batch: Sequence[Event]) -> None:
        batches.append(batch)
        raise Stop

    with pytest.raises(Stop):
        await sim.run(sink)
    assert batches and not any(isinstance(e, BookSnapshot) for e in batches[0])


def test_simulator_book_invariants_over_many_steps(l2_books: Any) -> None:
    """Deltas rebuild every engine's book; ticks, lots, trade ids and quotes are consistent."""
    clock = ManualClock()
    sim = Simulator(seed=3, clock=clock)
    events = run_steps(sim, clock, 2000, 10 * MS)
    l2_books.feed(events)
    markets = {m.id: m for m in sim.markets()}
    for market_id, book in l2_books.books.items():
        snapshot = sim.engine(market_id).snapshot()
        assert book.levels() == (snapshot.bids, snapshot.asks)
    trade_ids: dict[str, set[str]] = defaultdict(set)
    trades = [e for e in events if isinstance(e, Trade)]
    for trade in trades:
        market = markets[trade.market]
        assert trade.id not in trade_ids[trade.market]
        trade_ids[trade.market].add(trade.id)
        assert trade.price > 0 and trade.price % market.tick == 0
        assert trade.size > 0 and trade.size % market.lot == 0
    assert len(trades) > 200
    times = [getattr(e, "time_ns", 0) for e in events]
    assert times == sorted(times)


def test_simulator_parties_are_stable_hex() -> None:
    """Every party id in orders and trades is a known 64-hex simulated party."""
    clock = ManualClock()
    sim = Simulator(clock=clock)
    known = {party.id for party in sim.parties()}
    assert all(HEX64.fullmatch(pid) for pid in known)
    assert known == {party.id for party in Simulator(seed=99, clock=ManualClock()).parties()}
    seen: set[str] = set()
    for event in run_steps(sim, clock, 1000, 10 * MS):
        if isinstance(event, Order | Position):
            seen.add(event.party)
        elif isinstance(event, Trade):
            assert event.buyer is not None and event.seller is not None
            assert event.buyer != event.seller
            seen.update((event.buyer, event.seller))
    assert seen and seen <= known


def test_simulator_stress_rate_is_thousands_per_second() -> None:
    """stress=True produces about STRESS_RATE events per simulated second."""
    clock = ManualClock()
    total = count_polled(Simulator(clock=clock, stress=True), clock, 2)
    assert 0.9 * STRESS_RATE * 2 <= total <= 1.1 * STRESS_RATE * 2


def test_simulator_calm_rate_is_a_few_hundred_per_second() -> None:
    """The default pace is a few hundred events per second across all markets."""
    clock = ManualClock()
    total = count_polled(Simulator(clock=clock), clock, 10)
    assert 0.9 * CALM_RATE * 10 <= total <= 1.1 * CALM_RATE * 10
    assert 200 <= CALM_RATE <= 400


def test_simulator_poll_drops_a_long_backlog() -> None:
    """After a stall, at most about a second of events is produced at once."""
    clock = ManualClock()
    sim = Simulator(clock=clock, rate=1000)
    sim.initial_events()
    sim.poll()
    clock.advance(60_000 * MS)
    assert len(sim.poll()) <= 1100


def test_simulator_emits_every_event_kind() -> None:
    """Two simulated minutes yield trades, orders, positions, candles, tickers and metrics."""
    clock = ManualClock()
    sim = Simulator(clock=clock, markets=default_markets(assets=["btc", "eth"]))
    events = run_steps(sim, clock, 2400, 50 * MS)
    kinds = Counter(type(e) for e in events)
    for kind in (Trade, Order, Position, Candle, Ticker, AssetMetric):
        assert kinds[kind] > 0, kind
    candles = [e for e in events if isinstance(e, Candle)]
    assert {c.interval for c in candles} == {"1m"}


def test_simulator_prices_stay_realistic_for_hours(l2_books: Any) -> None:
    """Over four simulated hours trade prices stay near the start and books stay sane."""
    clock = ManualClock()
    markets = default_markets(assets=["btc", "doge"], venues=["binance", "kraken"])
    sim = Simulator(seed=11, clock=clock, markets=markets)
    events = run_steps(sim, clock, 3000, 5000 * MS)
    l2_books.feed(events)
    start = {s.market: (s.bids[0][0] + s.asks[0][0]) / 2 for s in events[: len(markets)]}
    for trade in (e for e in events if isinstance(e, Trade)):
        assert 0.8 < trade.price / start[trade.market] < 1.25
    for market in markets:
        engine = sim.engine(market.id)
        snapshot = engine.snapshot()
        assert l2_books.books[market.id].levels() == (snapshot.bids, snapshot.asks)
        bid, ask = engine.best_bid(), engine.best_ask()
        assert bid is not None and ask is not None
        assert (ask[0] - bid[0]) / bid[0] < 0.01


def test_simulator_rejects_bad_configuration() -> None:
    """Empty or duplicate market lists and non-positive rates are refused."""
    clock = ManualClock()
    with pytest.raises(ConfigError):
        Simulator(clock=clock, markets=[])
    btc = default_markets(assets=["btc"])[0]
    with pytest.raises(ConfigError):
        Simulator(clock=clock, markets=[btc, btc])
    with pytest.raises(ConfigError):
        Simulator(clock=clock, rate=0)


class TickingClock(ManualClock):
    """A manual clock that moves 1 ms every time monotonic time is read."""

    def monotonic_ns(self) -> int:
        self.advance(MS)
        return super().monotonic_ns()


async def test_simulator_run_publishes_snapshots_then_batches() -> None:
    """run() sends the snapshots first, then paced batches until cancelled."""
    clock = TickingClock()
    sim = Simulator(clock=clock, markets=default_markets(assets=["eth"]), rate=2000)
    sim.batch_interval_s = 0
    batches: list[list[Event]] = []
    enough = asyncio.Event()

    async def sink(events: Sequence[Event]) -> None:
        batches.append(list(events))
        if len(batches) >= 5:
            enough.set()

    task = asyncio.create_task(sim.run(sink))
    await asyncio.wait_for(enough.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snapshots = [e for e in batches[0] if isinstance(e, BookSnapshot)]
    assert len(snapshots) == len(sim.markets())
    assert batches[0][: len(snapshots)] == snapshots  # the books, then tickers and metrics
    assert {type(e) for e in batches[0][len(snapshots) :]} == {Ticker, AssetMetric}
    assert all(batch for batch in batches[1:])


def test_simulator_poll_limit_keeps_the_rest_due() -> None:
    """``poll(limit=N)`` stops after about N events; the rest is produced by the next polls,
    in the same order as one unlimited poll would (same seed, same clock)."""
    limited_clock, whole_clock = ManualClock(), ManualClock()
    limited = Simulator(clock=limited_clock, rate=1000)
    whole = Simulator(clock=whole_clock, rate=1000)
    for sim in (limited, whole):
        sim.initial_events()
        sim.poll()
    limited_clock.advance(500 * MS)
    whole_clock.advance(500 * MS)
    expected = whole.poll()
    assert len(expected) >= 450
    got: list[Event] = []
    while len(got) < len(expected):
        batch = limited.poll(limit=100)
        assert 0 < len(batch) < 100 + 20  # one step can make several events
        got.extend(batch)
    assert got == expected
    assert limited.poll(limit=100) == []


async def test_simulator_run_bounds_each_pass_and_goes_on_without_sleeping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind its rate, ``run`` publishes at most about ``MAX_EVENTS_PER_PASS`` events per
    sink call and calls the sink again at the next loop pass (no 20 ms sleep)."""
    clock = ManualClock()
    sim = Simulator(clock=clock, rate=100_000)
    sim.prime()
    sim.poll()
    clock.advance(100 * MS)  # 10,000 events due
    batches: list[int] = []

    class Stop(Exception):
        pass

    async def sink(batch: Sequence[Event]) -> None:
        batches.append(len(batch))
        if len(batches) == 5:
            raise Stop

    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    with pytest.raises(Stop):
        await sim.run(sink)
    assert all(MAX_EVENTS_PER_PASS <= size < MAX_EVENTS_PER_PASS + 20 for size in batches)
    assert sleeps == [0, 0, 0, 0]  # behind: the next pass at once, never the 20 ms pause
