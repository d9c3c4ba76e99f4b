"""Fair-price processes."""

from __future__ import annotations

import random
import statistics

import pytest

from tickcast.sources.prices import FairPrice, VenueSpread

MINUTE = 60 * 1_000_000_000
T0 = 1_767_225_600 * 1_000_000_000


def test_prices_fair_price_stays_realistic_for_a_month() -> None:
    """A month of minute steps keeps the price positive and within a sane band."""
    rng = random.Random(1)
    fair = FairPrice(87250.0, 0.6)
    fair.advance(T0, rng)
    path = [fair.advance(T0 + i * MINUTE, rng) for i in range(1, 30 * 24 * 60)]
    assert min(path) > 87250 / 2 and max(path) < 87250 * 2


def test_prices_fair_price_volatility_matches_spec() -> None:
    """Minute log-returns have roughly the annualised volatility asked for."""
    rng = random.Random(2)
    fair = FairPrice(100.0, 0.8)
    fair.advance(T0, rng)
    prices = [fair.advance(T0 + i * MINUTE, rng) for i in range(1, 20_000)]
    returns = [b / a - 1 for a, b in zip(prices, prices[1:], strict=False)]
    annualised = statistics.pstdev(returns) * (365 * 24 * 60) ** 0.5
    assert annualised == pytest.approx(0.8, rel=0.05)


def test_prices_fair_price_ignores_time_going_backwards() -> None:
    """Advancing to an earlier or equal time leaves the price unchanged."""
    rng = random.Random(3)
    fair = FairPrice(10.0, 1.0)
    fair.advance(T0, rng)
    moved = fair.advance(T0 + MINUTE, rng)
    assert fair.advance(T0, rng) == moved
    with pytest.raises(ValueError):
        FairPrice(0.0, 1.0)


def test_prices_venue_spread_is_small_and_mean_reverting() -> None:
    """Venue noise stays within a few basis points around the basis."""
    rng = random.Random(4)
    spread = VenueSpread(basis_bps=2.0, stdev_bps=3.0)
    factors = [spread.advance(T0 + i * 1_000_000_000, rng) for i in range(5000)]
    deviations = [(f - 1) * 1e4 for f in factors]
    assert statistics.mean(deviations) == pytest.approx(2.0, abs=1.0)
    assert max(abs(d - 2.0) for d in deviations) < 20
