"""The benchmark source: specs, stamped events, and max mode backing off."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest

from tickcast.clock import ManualClock
from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.dialects.socketio_feed.wire.protocol import market_update
from tickcast.errors import ConfigError
from tickcast.model import Event, MarketCatalog
from tickcast.model.bench import StampedTicker, StampedTrade
from tickcast.server.sources import build_source
from tickcast.sources.bench import MARKET, BenchSource


def test_specs() -> None:
    clock = ManualClock()
    paced = build_source("bench:rate=250", seed=1, clock=clock)
    assert isinstance(paced, BenchSource) and paced.rate == 250.0
    fastest = build_source("bench:rate=max,tickers=1,start=usr2", seed=1, clock=clock)
    assert isinstance(fastest, BenchSource) and fastest.rate is None
    assert fastest.tickers and fastest.wait_for_signal and fastest.max_batch == 20
    for bad in ("bench:rate=0", "bench:rate=fast", "bench:rate=-5"):
        with pytest.raises(ConfigError):
            build_source(bad, seed=1, clock=clock)


def test_trades_are_stamped_and_end_with_t_ns() -> None:
    source = BenchSource(rate=None, clock=ManualClock())
    events = source.make_batch(3)
    assert all(isinstance(e, StampedTrade) and e.t_ns > 0 for e in events)
    assert [e.id for e in events if isinstance(e, StampedTrade)] == [
        "4000000001",
        "4000000002",
        "4000000003",
    ]
    encoder = NativeEncoder(catalog=MarketCatalog([MARKET]))
    frame = encoder.update_frame("trades:bench-btc-usd-spot", 7, events[0], None)
    assert frame.endswith(b'"t_ns":%d}}' % events[0].t_ns)  # type: ignore[attr-defined]
    assert 140 <= len(frame) <= 220
    assert orjson.loads(frame)["seq"] == 7


def test_tickers_carry_seq_and_t_ns_last() -> None:
    source = BenchSource(rate=None, clock=ManualClock(), tickers=True)
    events = source.make_tickers(2)
    assert all(isinstance(e, StampedTicker) for e in events)
    update = market_update(events[1])  # type: ignore[arg-type]
    assert list(update)[-2:] == ["seq", "t_ns"] and update["seq"] == 2


async def test_max_mode_backs_off_while_backlogged() -> None:
    source = BenchSource(rate=None, clock=ManualClock(), max_batch=8)
    published: list[int] = []
    lagging = False

    async def sink(events: Sequence[Event]) -> None:
        published.append(len(events))

    source.backlogged = lambda: lagging
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
    source = BenchSource(rate=None, clock=ManualClock(), max_batch=8)
    arrivals = iter(range(1, 1_000_000))
    source.connection_count = lambda: next(arrivals)
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
