"""The Coin Metrics REST rate limiter: fixed one-minute windows per key."""

from __future__ import annotations

from tickcast.dialects.coinmetrics.endpoint.service import RateLimiter


def test_rate_limiter_windows() -> None:
    now = [120.25]
    limiter = RateLimiter(lambda: now[0])
    assert limiter.take("k", 2) == (True, 1, 60)
    assert limiter.take("k", 2) == (True, 0, 60)
    assert limiter.take("k", 2) == (False, 0, 60)
    assert limiter.take("other", 2)[0] is True  # per key
    now[0] = 179.5
    assert limiter.take("k", 2) == (False, 0, 1)  # reset is an integer of at least 1
    now[0] = 180.0
    assert limiter.take("k", 2) == (True, 1, 60)  # a new window
