"""Usage metering and per-user connection counting."""

from __future__ import annotations

import pytest

from tickcast.auth.metering import ConnectionCounter, Meter, Usage


def test_meter_counts_per_key() -> None:
    """Counters accumulate per key id."""
    meter = Meter()
    meter.connection_opened("a")
    meter.connection_opened("a")
    meter.connection_closed("a", 1.5)
    meter.delivered("a", 10, 1000, predictions=2)
    meter.delivered("b", 1, 5)
    assert meter.snapshot() == {
        "a": Usage(connections=2, connection_seconds=1.5, messages=10, bytes=1000, predictions=2),
        "b": Usage(messages=1, bytes=5),
    }


def test_meter_snapshot_does_not_reset() -> None:
    """snapshot returns copies and leaves the counters alone."""
    meter = Meter()
    meter.delivered("a", 1, 1)
    meter.snapshot()["a"].messages = 99
    assert meter.snapshot()["a"].messages == 1


def test_meter_drain_returns_deltas_and_resets() -> None:
    """drain hands over what accumulated since the previous drain."""
    meter = Meter()
    meter.delivered("a", 1, 10)
    assert meter.drain() == {"a": Usage(messages=1, bytes=10)}
    assert meter.drain() == {}
    meter.delivered("a", 2, 20)
    assert meter.drain() == {"a": Usage(messages=2, bytes=20)}


def test_meter_add_puts_back_a_failed_flush() -> None:
    """add merges deltas back into what accumulated since (nothing counted twice or lost)."""
    meter = Meter()
    meter.delivered("a", 1, 10)
    deltas = meter.drain()
    meter.delivered("a", 2, 20)
    meter.add(deltas)
    assert meter.drain() == {"a": Usage(messages=3, bytes=30)}


def test_meter_rejects_negative_counts() -> None:
    """Negative deltas are programming errors."""
    meter = Meter()
    with pytest.raises(ValueError):
        meter.delivered("a", -1, 0)
    with pytest.raises(ValueError):
        meter.connection_closed("a", -0.1)


def test_usage_add_sums_fields() -> None:
    """Usage.add adds every counter."""
    total = Usage(connections=1, bytes=2)
    total.add(Usage(connections=1, connection_seconds=2.0, messages=3, bytes=4, predictions=5))
    assert total == Usage(connections=2, connection_seconds=2.0, messages=3, bytes=6, predictions=5)


def test_connection_counter_enforces_limit() -> None:
    """try_acquire fails at the limit and succeeds again after a release."""
    counter = ConnectionCounter()
    assert counter.try_acquire("alice", 2)
    assert counter.try_acquire("alice", 2)
    assert not counter.try_acquire("alice", 2)
    assert counter.try_acquire("bob", 2)
    assert counter.count("alice") == 2 and counter.total() == 3
    counter.release("alice")
    assert counter.try_acquire("alice", 2)


def test_connection_counter_release_without_acquire_fails() -> None:
    """Releasing a slot that is not held raises and never goes negative."""
    counter = ConnectionCounter()
    with pytest.raises(ValueError):
        counter.release("alice")
    assert counter.try_acquire("alice", 1)
    counter.release("alice")
    assert counter.count("alice") == 0
