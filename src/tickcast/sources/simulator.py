"""The simulated exchange: tickcast's embedded default source.

Each asset has one seeded fair USD price; each market follows it with a little venue noise.
Parties (market makers, takers, noise traders) act on per-market matching engines, and the
resulting trades feed positions, candles, tickers and USD metrics.

``step(now_ns)`` is pure and synchronous: one party action on one market, plus whatever
candles, tickers and metrics fall due. The same seed and the same sequence of times give the
same events. ``run`` paces steps against the clock to about ``rate`` events per second.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Iterable

from tickcast.clock import Clock
from tickcast.errors import ConfigError
from tickcast.model.events import Event, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.base import EventSink
from tickcast.sources.candles import CandleAggregator
from tickcast.sources.makers import MarketMaker
from tickcast.sources.matching import MatchingEngine
from tickcast.sources.parties import Agent, NoiseTrader, Party, Role, Taker, default_parties
from tickcast.sources.positions import PositionTracker
from tickcast.sources.prices import FairPrice, VenueSpread
from tickcast.sources.tickers import TickerAggregator
from tickcast.sources.universe import AssetSpec, asset_spec, default_markets

CALM_RATE = 300.0
"""Default pace: events per second across all markets."""
STRESS_RATE = 5000.0
"""Pace of ``stress=True``."""
BATCH_INTERVAL_S = 0.02
MAX_LAG_S = 1.0
"""A backlog older than this is dropped rather than replayed in a burst."""
MAX_EVENTS_PER_PASS = 50
"""Events ``run`` makes per loop pass (~1-2 ms): a simulator that is behind never holds the loop
for long, so the control plane and clients keep being served (docs/performance.md)."""

_VENUE_WEIGHT = {"binance": 1.5, "coinbase": 1.0, "kraken": 0.6}
_FUTURE_WEIGHT = 2.0
_ROLE_WEIGHT = {Role.MAKER: 0.3, Role.TAKER: 0.12, Role.NOISE: 0.16}
"""Per-agent chance weights; two makers, two takers and one noise trader per market."""


class Simulator:
    """A seeded simulated exchange implementing ``Source``."""

    name = "simulator"

    def __init__(
        self,
        *,
        seed: int = 1,
        clock: Clock,
        markets: list[Market] | None = None,
        rate: float | None = None,
        stress: bool = False,
    ) -> None:
        self._markets = list(default_markets() if markets is None else markets)
        _check_markets(self._markets)
        self.rate = float(rate if rate is not None else STRESS_RATE if stress else CALM_RATE)
        if self.rate <= 0:
            raise ConfigError("simulator rate must be positive")
        self.batch_interval_s = BATCH_INTERVAL_S
        self._clock = clock
        self._rng = random.Random(seed)
        self._parties = default_parties()
        self._engines = {m.id: MatchingEngine(m) for m in self._markets}
        self._specs = {m.base: _spec_for(m) for m in self._markets}
        self._fair = {a: FairPrice(s.price_usd, s.volatility) for a, s in self._specs.items()}
        self._spreads = {m.id: _venue_spread(m) for m in self._markets}
        self._agents = {m.id: self._agents_for(i, m) for i, m in enumerate(self._markets)}
        self._agent_weights = {
            mid: list(itertools.accumulate(_ROLE_WEIGHT[a.role] for a in agents))
            for mid, agents in self._agents.items()
        }
        self._market_weights = list(itertools.accumulate(map(self._weight, self._markets)))
        self._candles = CandleAggregator(self._markets)
        self._positions = PositionTracker(self._markets)
        self._tickers = TickerAggregator(self._markets)
        self._last_ns: int | None = None
        self._pace_start: int | None = None
        self._emitted = 0.0
        self._primed = False

    # -- Source ----------------------------------------------------------------------------

    def markets(self) -> list[Market]:
        """The simulated markets."""
        return list(self._markets)

    async def run(self, sink: EventSink) -> None:
        """Publish the initial snapshots, then paced batches of steps until cancelled."""
        if not self._primed:
            await sink(self.initial_events())
        while True:
            events = self.poll(limit=MAX_EVENTS_PER_PASS)
            if events:
                await sink(events)
            # behind (asked for more than a core makes): go on at the next loop pass
            await asyncio.sleep(0 if len(events) >= MAX_EVENTS_PER_PASS else self.batch_interval_s)

    # -- synchronous API -------------------------------------------------------------------

    def parties(self) -> list[Party]:
        """The simulated parties."""
        return list(self._parties)

    def engine(self, market_id: str) -> MatchingEngine:
        """The matching engine of a market (KeyError when unknown)."""
        return self._engines[market_id]

    def prime(self) -> list[Event]:
        """The initial events, for the node to publish before it is ready (``run`` then starts
        with the first step): every book, ticker and metric exists from the first instant."""
        self._primed = True
        return self.initial_events()

    def initial_events(self) -> list[Event]:
        """One full ``BookSnapshot`` per market, to publish before any delta, then a ticker and
        the metrics of every asset, priced at its markets' opening mid until the first trade."""
        now_ns = self._clock.time_ns()
        self._ensure_seeded(now_ns)
        events: list[Event] = [engine.snapshot(now_ns) for engine in self._engines.values()]
        for market_id, engine in self._engines.items():
            bid, ask = engine.best_bid(), engine.best_ask()
            if bid is not None and ask is not None:
                self._tickers.seed(market_id, (bid[0] + ask[0]) // 2)
        events.extend(self._tickers.on_time(now_ns))
        return events

    def step(self, now_ns: int) -> list[Event]:
        """Advance the simulation by one action at wall time ``now_ns``; return its events.

        Order: candles closed by the clock, the engine's events (trades, orders, book delta,
        quote), positions of the trades' buyers and sellers, then due tickers and metrics.
        """
        self._ensure_seeded(now_ns)
        assert self._last_ns is not None
        now_ns = self._last_ns = max(now_ns, self._last_ns)
        events: list[Event] = list(self._candles.on_time(now_ns))
        rng = self._rng
        market = rng.choices(self._markets, cum_weights=self._market_weights)[0]
        agents = self._agents[market.id]
        agent = rng.choices(agents, cum_weights=self._agent_weights[market.id])[0]
        engine = self._engines[market.id]
        actions = agent.act(engine, self._fair_price(market, now_ns), rng, now_ns)
        events.extend(actions)
        for event in actions:
            if isinstance(event, Trade):
                events.extend(self._positions.on_trade(event))
                events.extend(self._candles.on_trade(event))
                self._tickers.on_trade(event)
        events.extend(self._tickers.on_time(now_ns))
        return events

    def poll(self, limit: int | None = None) -> list[Event]:
        """Run the steps due by the clock at ``rate`` events/s since the first poll (at most
        about ``limit`` events: the rest stays due for the next poll)."""
        mono = self._clock.monotonic_ns()
        if self._pace_start is None:
            self._pace_start, self._emitted = mono, 0.0
        due = self.rate * (mono - self._pace_start) / 1e9
        self._emitted = max(self._emitted, due - self.rate * MAX_LAG_S)
        now_ns = self._clock.time_ns()
        events: list[Event] = []
        while self._emitted < due and (limit is None or len(events) < limit):
            batch = self.step(now_ns)
            events.extend(batch)
            self._emitted += max(1, len(batch))
        return events

    # -- internals -------------------------------------------------------------------------

    def _ensure_seeded(self, now_ns: int) -> None:
        """On first use, start the prices and let market makers fill every book."""
        if self._last_ns is not None:
            return
        self._last_ns = now_ns
        for market in self._markets:
            fair = self._fair_price(market, now_ns)
            for agent in self._agents[market.id]:
                if isinstance(agent, MarketMaker):
                    agent.seed(self._engines[market.id], fair, self._rng, now_ns)

    def _fair_price(self, market: Market, now_ns: int) -> int:
        """The market's fair price now, scaled and on the tick."""
        usd = self._fair[market.base].advance(now_ns, self._rng)
        usd *= self._spreads[market.id].advance(now_ns, self._rng)
        ticks = round(usd * float(10**market.price_decimals) / market.tick)
        return max(1, ticks) * market.tick

    def _agents_for(self, index: int, market: Market) -> list[Agent]:
        """Two makers, two takers and a noise trader, picked deterministically by index."""
        by_role = {role: [p for p in self._parties if p.role is role] for role in Role}
        makers, takers, noise = by_role[Role.MAKER], by_role[Role.TAKER], by_role[Role.NOISE]
        return [
            MarketMaker(makers[index % len(makers)], market),
            MarketMaker(makers[(index + 1) % len(makers)], market, offset_bps=1.0),
            Taker(takers[index % len(takers)], market),
            Taker(takers[(index + 3) % len(takers)], market),
            NoiseTrader(noise[index % len(noise)], market),
        ]

    def _weight(self, market: Market) -> float:
        """How often a market is picked: sqrt of asset activity times venue weight.

        The square root keeps quiet markets busy enough for their books to follow fair.
        """
        if market.kind is MarketKind.FUTURE:
            venue = _FUTURE_WEIGHT
        else:
            venue = _VENUE_WEIGHT.get(market.exchange, 1.0)
        return math.sqrt(self._specs[market.base].activity * venue)


def _check_markets(markets: Iterable[Market]) -> None:
    ids = [market.id for market in markets]
    if not ids:
        raise ConfigError("the simulator needs at least one market")
    if len(set(ids)) != len(ids):
        raise ConfigError("duplicate simulator market ids")


def _spec_for(market: Market) -> AssetSpec:
    """The universe spec of a market's asset, or a generic one priced at 100."""
    spec = asset_spec(market.base)
    if spec is not None:
        return spec
    price = f"{100:.{market.price_decimals}f}"
    return AssetSpec(market.base, price, 0.8, market.price_decimals, market.size_decimals)


def _venue_spread(market: Market) -> VenueSpread:
    if market.kind is MarketKind.FUTURE:
        return VenueSpread(basis_bps=2.0, stdev_bps=2.0)
    return VenueSpread()
