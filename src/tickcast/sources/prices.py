"""Seeded fair-price processes for the simulator.

``FairPrice`` is an asset's USD fair price: geometric Brownian motion with the asset's
annualised volatility and a weak pull back to its starting level (so hours or days of
simulation stay realistic). ``VenueSpread`` is a market's small deviation from that fair price
(an Ornstein-Uhlenbeck process in basis points, plus a constant basis for futures). Both use
exact-in-time discretisations, so they may be advanced lazily, only when a market is used.
"""

from __future__ import annotations

import math
import random

_YEAR_NS = 365 * 24 * 3600 * 1_000_000_000
_SECOND_NS = 1_000_000_000


class FairPrice:
    """An asset's fair USD price: mean-reverting (in log) geometric Brownian motion."""

    def __init__(
        self, start: float, volatility: float, *, reversion_per_year: float = 12.0
    ) -> None:
        if start <= 0:
            raise ValueError("a fair price must start positive")
        self.anchor = math.log(start)
        self.log_price = self.anchor
        self.volatility = volatility
        self.reversion = reversion_per_year
        self.time_ns: int | None = None

    @property
    def value(self) -> float:
        return math.exp(self.log_price)

    def advance(self, now_ns: int, rng: random.Random) -> float:
        """Move the price to ``now_ns`` and return it; time never goes backwards."""
        if self.time_ns is None:
            self.time_ns = now_ns
        if now_ns <= self.time_ns:
            return self.value
        years = (now_ns - self.time_ns) / _YEAR_NS
        self.time_ns = now_ns
        decay = math.exp(-self.reversion * years)
        spread = self.volatility * math.sqrt((1 - decay * decay) / (2 * self.reversion))
        self.log_price = self.anchor + (self.log_price - self.anchor) * decay
        self.log_price += spread * rng.gauss(0.0, 1.0)
        return self.value


class VenueSpread:
    """A market's deviation from the asset's fair price, in basis points."""

    def __init__(
        self, *, basis_bps: float = 0.0, stdev_bps: float = 3.0, half_life_s: float = 20.0
    ) -> None:
        self.basis_bps = basis_bps
        self.stdev_bps = stdev_bps
        self.rate = math.log(2) / half_life_s
        self.noise_bps = 0.0
        self.time_ns: int | None = None

    def advance(self, now_ns: int, rng: random.Random) -> float:
        """Move to ``now_ns`` and return the multiplier to apply to the fair price."""
        if self.time_ns is not None and now_ns > self.time_ns:
            decay = math.exp(-self.rate * (now_ns - self.time_ns) / _SECOND_NS)
            shock = self.stdev_bps * math.sqrt(1 - decay * decay) * rng.gauss(0.0, 1.0)
            self.noise_bps = self.noise_bps * decay + shock
        if self.time_ns is None or now_ns > self.time_ns:
            self.time_ns = now_ns
        return 1 + (self.basis_bps + self.noise_bps) / 1e4
