"""Simulated parties and their behaviours: takers and noise traders (market makers: ``makers``).

Party ids are stable 64-hex strings derived from the party number, identical across runs.
An *agent* is one party active on one market; it acts on the market's ``MatchingEngine``
given the venue's fair price and a ``random.Random`` supplied by the simulator.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from enum import StrEnum

from tickcast.model.events import Event, Side
from tickcast.model.markets import Market
from tickcast.sources.matching import MatchingEngine


class Role(StrEnum):
    MAKER = "maker"
    TAKER = "taker"
    NOISE = "noise"


def party_id(number: int) -> str:
    """The stable id of simulated party ``number``: sha256 of ``tickcast-sim-party-<n>``."""
    return hashlib.sha256(f"tickcast-sim-party-{number}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Party:
    number: int
    role: Role

    @property
    def id(self) -> str:
        return party_id(self.number)


def default_parties(makers: int = 4, takers: int = 6, noise: int = 4) -> list[Party]:
    """Numbered parties: makers first, then takers, then noise traders."""
    roles = [Role.MAKER] * makers + [Role.TAKER] * takers + [Role.NOISE] * noise
    return [Party(number, role) for number, role in enumerate(roles)]


class Agent:
    """One party trading one market; keeps track of its own resting orders."""

    role: Role

    def __init__(self, party: Party, market: Market) -> None:
        self.party = party
        self.party_id = party.id
        self.market = market
        self._orders: dict[str, tuple[Side, int]] = {}
        """Own resting orders: id -> (side, price)."""

    def act(
        self, engine: MatchingEngine, fair: int, rng: random.Random, now_ns: int
    ) -> list[Event]:
        """Take one action; return the engine's events."""
        raise NotImplementedError

    def _prune(self, engine: MatchingEngine) -> None:
        """Forget orders that were filled or cancelled."""
        gone = [oid for oid in self._orders if not engine.has_order(oid)]
        for oid in gone:
            del self._orders[oid]

    def _size(self, rng: random.Random, notional_usd: float, fair: int) -> int:
        """A size near ``notional_usd`` worth at ``fair``, on the lot, at least one lot."""
        price = fair / 10**self.market.price_decimals
        notional = notional_usd * math.exp(rng.gauss(0.0, 0.6))
        units = notional / price * 10**self.market.size_decimals
        lot = self.market.lot
        return max(lot, int(units) // lot * lot)

    def _on_tick(self, price: float, side: Side) -> int:
        """Round a price to the tick (bids down, asks up), at least one tick."""
        tick = self.market.tick
        ticks = math.floor(price / tick) if side is Side.BUY else math.ceil(price / tick)
        return max(tick, ticks * tick)

    def _place(
        self, engine: MatchingEngine, side: Side, price: int, size: int, now_ns: int
    ) -> list[Event]:
        order_id, events = engine.place_limit(self.party_id, side, price, size, now_ns)
        if engine.has_order(order_id):
            self._orders[order_id] = (side, price)
        return events

    def _amend(
        self,
        engine: MatchingEngine,
        order_id: str,
        now_ns: int,
        *,
        price: int | None = None,
        size: int | None = None,
    ) -> list[Event]:
        side = self._orders[order_id][0]
        events = engine.amend(order_id, now_ns, price=price, size=size)
        resting = engine.order(order_id)
        if resting is None:
            self._orders.pop(order_id, None)
        else:
            self._orders[order_id] = (side, resting.price)
        return events

    def _cancel(self, engine: MatchingEngine, order_id: str, now_ns: int) -> list[Event]:
        self._orders.pop(order_id, None)
        return engine.cancel(order_id, now_ns)


class Taker(Agent):
    """Sends market and marketable limit orders, leaning towards the fair price."""

    role = Role.TAKER

    def __init__(self, party: Party, market: Market, *, notional_usd: float = 1500.0) -> None:
        super().__init__(party, market)
        self.notional_usd = notional_usd

    def act(
        self, engine: MatchingEngine, fair: int, rng: random.Random, now_ns: int
    ) -> list[Event]:
        self._prune(engine)
        if self._orders and rng.random() < 0.4:
            return self._cancel(engine, next(iter(self._orders)), now_ns)
        side = self._pick_side(engine, fair, rng)
        if side is None:
            return []
        size = self._size(rng, self.notional_usd, fair)
        if rng.random() < 0.55:
            return engine.place_market(self.party_id, side, size, now_ns)[1]
        best = engine.best_ask() if side is Side.BUY else engine.best_bid()
        assert best is not None
        through = rng.randint(0, 3) * self.market.tick
        price = best[0] + through if side is Side.BUY else best[0] - through
        return self._place(engine, side, max(self.market.tick, price), size, now_ns)

    @staticmethod
    def _pick_side(engine: MatchingEngine, fair: int, rng: random.Random) -> Side | None:
        """Buy when the book is cheap against fair, sell when rich; None on an empty book."""
        bid, ask = engine.best_bid(), engine.best_ask()
        if bid is None or ask is None:
            return Side.SELL if bid is not None else (Side.BUY if ask is not None else None)
        mid = (bid[0] + ask[0]) / 2
        lean = max(-0.4, min(0.4, (fair - mid) / mid * 2000))
        return Side.BUY if rng.random() < 0.5 + lean else Side.SELL


class NoiseTrader(Agent):
    """Places, amends and cancels limit orders scattered around the fair price."""

    role = Role.NOISE

    def __init__(
        self, party: Party, market: Market, *, max_orders: int = 12, notional_usd: float = 800.0
    ) -> None:
        super().__init__(party, market)
        self.max_orders = max_orders
        self.notional_usd = notional_usd

    def act(
        self, engine: MatchingEngine, fair: int, rng: random.Random, now_ns: int
    ) -> list[Event]:
        self._prune(engine)
        if self._orders and (len(self._orders) >= self.max_orders or rng.random() < 0.4):
            order_id = rng.choice(list(self._orders))
            roll = rng.random()
            if roll < 0.4:
                return self._cancel(engine, order_id, now_ns)
            resting = engine.order(order_id)
            assert resting is not None
            if roll < 0.7 and resting.remaining > self.market.lot:
                smaller = resting.remaining // 2 // self.market.lot * self.market.lot
                return self._amend(engine, order_id, now_ns, size=max(self.market.lot, smaller))
            side = resting.side
            return self._amend(engine, order_id, now_ns, price=self._price(fair, side, rng))
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        size = self._size(rng, self.notional_usd, fair)
        return self._place(engine, side, self._price(fair, side, rng), size, now_ns)

    def _price(self, fair: int, side: Side, rng: random.Random) -> int:
        """A price scattered around fair, a little passive on average."""
        skew = -3.0 if side is Side.BUY else 3.0
        return self._on_tick(fair * (1 + (skew + rng.gauss(0.0, 8.0)) / 1e4), side)
