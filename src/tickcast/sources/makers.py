"""Simulated market makers: a ladder of quotes per side that follows the fair price."""

from __future__ import annotations

import random

from tickcast.model.events import Event, Side
from tickcast.model.markets import Market
from tickcast.sources.matching import MatchingEngine
from tickcast.sources.parties import Agent, Party, Role

MAX_MOVES = 4
"""At most this many stale quotes are re-priced in one action."""


class MarketMaker(Agent):
    """Keeps ``levels`` orders per side around the fair price and re-quotes the stale ones.

    Slot ``i`` of the bid ladder is at ``fair - half_spread - i * step`` (asks mirror it),
    never crossing the opposite best. An action on a side first re-prices stale quotes (too
    close to or through fair, beyond the ladder, or a gap at the top); otherwise it refreshes
    one random quote (re-price, re-size or cancel).
    """

    role = Role.MAKER

    def __init__(
        self,
        party: Party,
        market: Market,
        *,
        levels: int = 25,
        half_spread_bps: float = 1.0,
        step_bps: float = 2.0,
        offset_bps: float = 0.0,
        notional_usd: float = 4000.0,
    ) -> None:
        super().__init__(party, market)
        self.levels = levels
        self.half_spread_bps = half_spread_bps + offset_bps
        self.step_bps = step_bps
        self.notional_usd = notional_usd

    def seed(self, engine: MatchingEngine, fair: int, rng: random.Random, now_ns: int) -> None:
        """Place the full ladder on both sides (events are dropped: a snapshot follows)."""
        for slot in range(self.levels):
            for side in (Side.BUY, Side.SELL):
                self._quote(engine, fair, side, slot, rng, now_ns)

    def act(
        self, engine: MatchingEngine, fair: int, rng: random.Random, now_ns: int
    ) -> list[Event]:
        self._prune(engine)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        mine = [oid for oid, (s, _) in self._orders.items() if s is side]
        if len(mine) < self.levels:
            free = self._free_slots(mine, side, fair) or [rng.randrange(self.levels)]
            return self._quote(engine, fair, side, rng.choice(free), rng, now_ns)
        moves = self._stale(mine, side, fair, rng)
        if moves:
            events: list[Event] = []
            for order_id, slot in moves:
                events.extend(self._move(engine, fair, order_id, slot, now_ns))
            return events
        order_id = rng.choice(mine)
        roll = rng.random()
        if roll < 0.15:
            size = self._size(rng, self.notional_usd, fair)
            return self._amend(engine, order_id, now_ns, size=size)
        if roll < 0.3:
            return self._cancel(engine, order_id, now_ns)
        return self._move(engine, fair, order_id, rng.randrange(self.levels), now_ns)

    def _quote(
        self,
        engine: MatchingEngine,
        fair: int,
        side: Side,
        slot: int,
        rng: random.Random,
        now_ns: int,
    ) -> list[Event]:
        """Place a new order at a ladder slot."""
        price = self._slot_price(engine, fair, side, slot)
        if price is None:
            return []
        size = self._size(rng, self.notional_usd, fair)
        return self._place(engine, side, price, size, now_ns)

    def _move(
        self, engine: MatchingEngine, fair: int, order_id: str, slot: int, now_ns: int
    ) -> list[Event]:
        """Re-price one of our orders to a ladder slot (no-op when the price is unchanged)."""
        side, current = self._orders[order_id]
        price = self._slot_price(engine, fair, side, slot)
        if price is None or price == current:
            return []
        return self._amend(engine, order_id, now_ns, price=price)

    def _band(self, fair: int) -> tuple[float, float]:
        """Half spread and ladder step in price units (at least one tick each)."""
        tick = self.market.tick
        half = max(float(tick), fair * self.half_spread_bps / 1e4)
        return half, max(float(tick), fair * self.step_bps / 1e4)

    def _slot_price(self, engine: MatchingEngine, fair: int, side: Side, slot: int) -> int | None:
        """The price of a ladder slot; None when it would cross the opposite best.

        Skipping (rather than clamping to one tick inside the opposite best) keeps a stale
        book from collapsing our quotes onto a single level.
        """
        price = self._raw_price(fair, side, slot)
        if side is Side.BUY:
            ask = engine.best_ask()
            crosses = ask is not None and price >= ask[0]
        else:
            bid = engine.best_bid()
            crosses = bid is not None and price <= bid[0]
        return None if crosses or price <= 0 else price

    def _stale(
        self, mine: list[str], side: Side, fair: int, rng: random.Random
    ) -> list[tuple[str, int]]:
        """Up to ``MAX_MOVES`` (order id, target slot) re-quotes, most urgent first."""
        half, step = self._band(fair)
        deepest = half + self.levels * step
        distance = {
            oid: (fair - price if side is Side.BUY else price - fair)
            for oid in mine
            for price in (self._orders[oid][1],)
        }
        ranked = sorted(mine, key=distance.__getitem__)
        urgent = [oid for oid in ranked if distance[oid] < half - 0.5]
        if distance[ranked[0]] > half + 2 * step:
            urgent.append(ranked[-1])
        urgent.extend(oid for oid in reversed(ranked) if distance[oid] > deepest)
        urgent = list(dict.fromkeys(urgent))[:MAX_MOVES]
        if not urgent:
            return []
        others = [oid for oid in mine if oid not in urgent]
        free = self._free_slots(others, side, fair) or [rng.randrange(self.levels)]
        return [(oid, free[min(n, len(free) - 1)]) for n, oid in enumerate(urgent)]

    def _free_slots(self, orders: list[str], side: Side, fair: int) -> list[int]:
        """Ladder slots, best first, whose price none of ``orders`` occupies."""
        taken = {self._orders[oid][1] for oid in orders}
        return [i for i in range(self.levels) if self._raw_price(fair, side, i) not in taken]

    def _raw_price(self, fair: int, side: Side, slot: int) -> int:
        """A ladder slot's price, before the no-crossing clamp."""
        half, step = self._band(fair)
        sign = -1 if side is Side.BUY else 1
        return self._on_tick(fair + sign * (half + slot * step), side)
