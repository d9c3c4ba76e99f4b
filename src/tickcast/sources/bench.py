"""The benchmark source: ``bench:rate=R`` or ``bench:rate=max`` (docs/performance.md).

It publishes ordinary ~150-byte trades on one stream, ``trades:bench-btc-usd-spot`` (the market
``bench-btc-usd-spot``). Nothing downstream knows it is a benchmark: a load client measures
publish-to-receive latency from the publish time the bus puts on every envelope, which the
dialects show as ``t_ns`` when the node runs with ``publish_stamps = true``
(docs/configuration.md), and checks the stream's dense ``seq``.

* ``rate=R`` (messages/s): paced; every loop pass publishes the messages that are due as one
  batch. If it falls more than 100 ms behind, the missed slots are skipped and counted in
  ``lagged`` (no catch-up bursts), as the team's fan-out harness does.
* ``rate=max``: one batch per loop pass, as large as the server sustains: the batch doubles
  (up to ``max_batch``) while no client lags and halves, with a 1 ms pause, while some client's
  backlog is over its limit (:meth:`Pressure.backlogged`), so memory stays bounded.
* ``tickers=1``: publish tickers of the Socket.IO feed's 20 symbols instead of trades, one
  symbol after another (the feed's benchmark; the feed delivers every ticker, like any dialect
  through the hub, so batches grow as for trades).
* ``start=usr2``: wait for SIGUSR2 before publishing (the harness samples idle memory first).

While clients are still arriving (:meth:`Pressure.connections` changed in the last
``SETTLE_S``), both modes publish one message per ``joining_interval()``: handshakes are
not starved by a server that publishes flat out from its start (the team harness's own
``tickcast_peer.sh`` starts the source before connecting thousands of clients).

The node hands the source its :class:`~tickcast.sources.base.Pressure` at construction
(``server/sources.py``); nothing else of the node knows this module (an import-linter contract
keeps the bus, dialects, hub and state from importing it).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from dataclasses import dataclass

from tickcast.clock import Clock
from tickcast.dialects.socketio_feed.wire.protocol import SYMBOLS, asset_of
from tickcast.model import Event, Market, MarketKind, Side, Ticker, Trade
from tickcast.sources.base import EventSink, Pressure

MARKET = Market(
    id="bench-btc-usd-spot",
    exchange="bench",
    kind=MarketKind.SPOT,
    base="btc",
    quote="usd",
    symbol="BTC-USD",
    price_decimals=2,
    size_decimals=3,
)
STREAM = "trades:bench-btc-usd-spot"
PRICES = [8_720_000 + 50 * i for i in range(200)]
SIZES = [12, 250, 1_000, 3, 75, 500, 2_125, 40]
LAG_SKIP_S = 0.1
MAX_BATCH = 1_000
SETTLE_S = 0.5
JOINING_INTERVAL_S = 0.01
JOINING_S_PER_CLIENT = 20e-6
"""While clients arrive: one message per max(10 ms, 20 µs per connected client), so fan-out
writes take at most ~1/4 of the loop and handshakes proceed."""
FEED_ASSETS = [asset_of(symbol) for symbol in SYMBOLS]


@dataclass(slots=True)
class BenchStats:
    published: int = 0
    lagged: int = 0
    backlog_pauses: int = 0
    batches: int = 0


class BenchSource:
    """See the module docstring. ``pressure``: the node's clients (none: a node without any)."""

    name = "bench"

    def __init__(
        self,
        *,
        rate: float | None,
        clock: Clock,
        pressure: Pressure | None = None,
        tickers: bool = False,
        wait_for_signal: bool = False,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive or None (max), not {rate}")
        self.rate = rate
        self.clock = clock
        self.tickers = tickers
        self.wait_for_signal = wait_for_signal
        self.max_batch = max_batch
        self.stats = BenchStats()
        self.pressure = pressure or Pressure()
        self._count = 0
        self._count_changed_at = 0.0
        self._seq = 0

    def report(self) -> None:
        """Print the counters as the fan-out harness expects them (``publisher: {json}``)."""
        stats = {
            "published": self.stats.published,
            "lagged": self.stats.lagged,
            "backlog_pauses": self.stats.backlog_pauses,
            "batches": self.stats.batches,
        }
        print(f"publisher: {json.dumps(stats)}", file=sys.stderr, flush=True)

    def markets(self) -> list[Market]:
        return [MARKET]

    def make_batch(self, count: int) -> list[Event]:
        """``count`` trades, timed now."""
        wall = self.clock.time_ns()
        events: list[Event] = []
        seq = self._seq
        for _ in range(count):
            seq += 1
            price = PRICES[seq % 200]
            events.append(
                Trade(
                    MARKET.id,
                    str(4_000_000_000 + seq),
                    price,
                    SIZES[seq % 8],
                    Side.BUY if (seq // 3) % 2 == 0 else Side.SELL,
                    wall,
                )
            )
        self._seq = seq
        return events

    def make_tickers(self, count: int) -> list[Event]:
        """``count`` tickers, one symbol after another in the feed's order."""
        wall = self.clock.time_ns()
        events: list[Event] = []
        seq = self._seq
        for _ in range(count):
            seq += 1
            price = PRICES[seq % 200]
            asset = FEED_ASSETS[seq % len(FEED_ASSETS)]
            events.append(
                Ticker(asset, 2, price, PRICES[0], PRICES[-1], PRICES[0], 1_000_000, 3, wall)
            )
        self._seq = seq
        return events

    async def run(self, sink: EventSink) -> None:
        if self.wait_for_signal:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, self.report)
            await _wait_for_sigusr2()
            print("publisher: started", file=sys.stderr, flush=True)
        if self.rate is None:
            await self._run_max(sink)
        else:
            await self._run_paced(sink, self.rate)

    def joining(self) -> bool:
        """Whether clients arrived or left within the last ``SETTLE_S`` seconds."""
        count, now = self.pressure.connections(), time.monotonic()
        if count != self._count:
            self._count, self._count_changed_at = count, now
        return now - self._count_changed_at < SETTLE_S

    def joining_interval(self) -> float:
        return max(JOINING_INTERVAL_S, self._count * JOINING_S_PER_CLIENT)

    async def _publish(self, sink: EventSink, count: int) -> None:
        await sink(self.make_tickers(count) if self.tickers else self.make_batch(count))
        self.stats.published += count
        self.stats.batches += 1

    async def _run_paced(self, sink: EventSink, rate: float) -> None:
        interval = 1.0 / rate
        due = time.monotonic()
        while True:
            now = time.monotonic()
            if now - due > LAG_SKIP_S:
                skip = int((now - due) / interval)
                self.stats.lagged += skip
                due += skip * interval
            count = 0
            while due <= now and count < self.max_batch:
                count += 1
                due += interval
            if count and self.joining():
                await self._publish(sink, 1)
                self.stats.lagged += count - 1
                await asyncio.sleep(self.joining_interval())
                continue
            if count:
                await self._publish(sink, count)
            delay = due - time.monotonic()
            await asyncio.sleep(max(delay, 0.0) if count == 0 else 0)

    async def _run_max(self, sink: EventSink) -> None:
        batch = 1
        while True:
            if self.pressure.backlogged():
                self.stats.backlog_pauses += 1
                batch = max(1, batch // 2)
                await asyncio.sleep(0.001)
                continue
            if self.joining():
                await self._publish(sink, 1)
                await asyncio.sleep(self.joining_interval())
                continue
            await self._publish(sink, batch)
            batch = min(self.max_batch, batch * 2)
            await asyncio.sleep(0)


async def _wait_for_sigusr2() -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR2, started.set)
    try:
        await started.wait()
    finally:
        loop.remove_signal_handler(signal.SIGUSR2)


def parse_rate(value: str) -> float | None:
    """``max`` → None, else a positive float (ValueError otherwise)."""
    if value == "max":
        return None
    rate = float(value)
    if not rate > 0:
        raise ValueError(value)
    return rate
