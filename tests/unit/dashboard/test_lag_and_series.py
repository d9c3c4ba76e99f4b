"""Per-connection lag from outbox positions, and the Overview's gap/resync window."""

from __future__ import annotations

from tickcast.dashboard.lag import ConnectionLags
from tickcast.dashboard.sampler import COUNTERS, GAUGES, Point, Series


def info(cid: str, sent: int, pending: int) -> dict[str, object]:
    return {"id": cid, "bytes": sent, "pending_bytes": pending}


def test_lag_is_the_wait_of_the_oldest_queued_byte() -> None:
    lags = ConnectionLags()
    lags.observe(100.0, [info("a", 0, 0)])
    assert lags.lag(100.0, info("a", 0, 0)) == 0.0
    lags.observe(101.0, [info("a", 0, 500)])  # 500 bytes queued at 101
    lags.observe(102.0, [info("a", 200, 800)])  # 200 sent, 500 more queued at 102
    assert lags.lag(104.0, info("a", 200, 800)) == 3.0  # byte 200 was queued by 101
    lags.observe(105.0, [info("a", 600, 400)])  # bytes of the 101 batch all sent
    assert lags.lag(105.5, info("a", 600, 400)) == 3.5  # byte 600 was queued by 102
    lags.observe(106.0, [info("a", 1000, 0)])
    assert lags.lag(106.0, info("a", 1000, 0)) == 0.0


def test_a_connection_first_seen_behind_shows_the_time_since_then_and_is_forgotten() -> None:
    lags = ConnectionLags()
    lags.observe(10.0, [info("b", 50, 70)])
    assert lags.lag(12.0, info("b", 50, 70)) == 2.0
    lags.observe(13.0, [])
    assert lags.lag(13.0, info("b", 50, 70)) == 0.0  # gone: nothing remembered


def point(t: float, **totals: float) -> Point:
    values = dict.fromkeys([*COUNTERS, *GAUGES], 0.0) | totals
    return Point(t=t, totals=values, connections={}, slow=0)


def test_series_rates_and_window_totals() -> None:
    series = Series()
    series.add(point(0.0, resyncs=1))
    series.add(point(2.0, resyncs=3, drops=4))
    series.add(point(400.0, resyncs=5, drops=4))
    rates = series.rates()
    assert rates["resyncs"] == [1.0, round(2 / 398, 3)] and rates["drops"] == [2.0, 0.0]
    assert series.window_totals(300.0)["resyncs"] == 0.0  # only the last sample is that recent
    whole = series.window_totals(1000.0)
    assert whole["resyncs"] == 4.0 and whole["drops"] == 4.0 and whole["trade_gaps"] == 0.0
