"""The benchmark source: specs, ordinary events, and backing off through the node's Pressure."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tickcast.clock import ManualClock
from tickcast.errors import ConfigError
from tickcast.model import Event, Ticker, Trade
from tickcast.server.sources import build_source
from tickcast.sources.base import Pressure
from tickcast.sources.bench import FEED_ASSETS, MARKET, MAX_BATCH, BenchSource


def test_specs() -> None:
    clock = ManualClock()
    paced = build_source("bench:rate=250", seed=1, clock=clock)
    assert isinstance(paced, BenchSource) and paced.rate == 250.0
    pressure = Pressure()
    fastest = build_source(
        "bench:rate=max,tickers=1,start=usr2", seed=1, clock=clock, pressure=pressure
    )
    assert isinstance(fastest, BenchSource) and fastest.rate is None
    # tickers batch like trades: the feed delivers every ticker through the hub (no per-pass
    # newest-per-symbol cap any more)
    assert fastest.tickers and fastest.wait_for_signal and fastest.max_batch == MAX_BATCH
    assert fastest.pressure is pressure  # handed over at construction, not patched in
    for bad in ("bench:rate=0", "bench:rate=fast", "bench:rate=-5"):
        with pytest.raises(ConfigError):
            build_source(bad, seed=1, clock=clock)


def test_trades_are_ordinary_trades_on_the_bench_market() -> None:
    clock = ManualClock()
    events = BenchSource(rate=None, clock=clock).make_batch(3)
    assert all(type(e) is Trade and e.market == MARKET.id for e in events)
    assert [e.id for e in events if isinstance(e, Trade)] == [
        "4000000001",
        "4000000002",
        "4000000003",
    ]
    assert {e.time_ns for e in events if isinstance(e, Trade)} == {clock.time_ns()}


def test_tickers_are_ordinary_tickers_of_the_feed_symbols_in_turn() -> None:
    events = BenchSource(rate=None, clock=ManualClock(), tickers=True).make_tickers(3)
    assert all(type(e) is Ticker for e in events)
    assert [e.asset for e in events if isinstance(e, Ticker)] == FEED_ASSETS[1:4]


def test_pressure_combines_its_probes() -> None:
    connected = [3]
    pressure = Pressure(connections=lambda: connected[0])
    hub_lags, feed_lags = [False], [False]
    pressure.add(lambda: hub_lags[0])
    remove = pressure.add(lambda: feed_lags[0])
    assert not pressure.backlogged() and pressure.connections() == 3
    feed_lags[0] = True
    assert pressure.backlogged()
    remove()
    assert not pressure.backlogged()
    hub_lags[0], connected[0] = True, 4
    assert pressure.backlogged() and pressure.connections() == 4
    assert not Pressure().backlogged() and Pressure().connections() == 0


async def test_max_mode_backs_off_while_backlogged() -> None:
    pressure = Pressure()
    source = BenchSource(rate=None, clock=ManualClock(), pressure=pressure, max_batch=8)
    published: list[int] = []
    lagging = False

    async def sink(events: Sequence[Event]) -> None:
        published.append(len(events))

    pressure.add(lambda: lagging)
    task = asyncio.create_task(source.run(sink))
    for _ in range(50):
        if len(published) >= 6:
            break
        await asyncio.sleep(0)
    assert published[:4] == [1, 2, 4, 8] and max(published) == 8
    lagging = True
    await asyncio.sleep(0.01)
    before = len(published)
    await asyncio.sleep(0.02)
    assert len(published) == before and source.stats.backlog_pauses > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_publishes_gently_while_clients_arrive() -> None:
    """While the connection count keeps changing, one message per interval, never a batch."""
    arrivals = iter(range(1, 1_000_000))
    pressure = Pressure(connections=lambda: next(arrivals))
    source = BenchSource(rate=None, clock=ManualClock(), pressure=pressure, max_batch=8)
    published: list[int] = []

    async def sink(events: Sequence[Event]) -> None:
        published.append(len(events))

    task = asyncio.create_task(source.run(sink))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert published and max(published) == 1
    assert len(published) <= 6  # at most one per 10 ms
