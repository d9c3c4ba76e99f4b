"""The ingest pipeline: stages run in the order of their step, each isolated."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from tickcast.model import Envelope
from tickcast.state.pipeline import Pipeline, Step


def test_stages_run_by_step_then_in_the_order_added() -> None:
    pipeline = Pipeline()
    ran: list[str] = []

    def stage(name: str):  # type: ignore[no-untyped-def]
        return lambda envelopes: ran.append(name)

    pipeline.add(Step.OBSERVE, "feed", stage("feed"))
    pipeline.add(Step.DERIVE, "vega", stage("vega"))
    pipeline.add(Step.OBSERVE, "catalogue", stage("catalogue"))
    pipeline.add(Step.DELIVER, "hub", stage("hub"))
    pipeline.add(Step.RECORD, "recorder", stage("recorder"))

    pipeline.on_envelopes([])

    assert ran == ["hub", "recorder", "vega", "feed", "catalogue"]
    assert pipeline.names == ran


def test_a_failing_stage_is_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed: list[str] = []
    pipeline = Pipeline(on_failure=failed.append)
    seen: list[int] = []

    def broken(envelopes: Sequence[Envelope]) -> None:
        raise ValueError("bad event")

    pipeline.add(Step.DELIVER, "hub", lambda envelopes: seen.append(1))
    pipeline.add(Step.DERIVE, "vega", broken)
    pipeline.add(Step.OBSERVE, "feed", lambda envelopes: seen.append(3))

    with caplog.at_level(logging.ERROR, logger="tickcast.state"):
        pipeline.on_envelopes([])
        pipeline.on_envelopes([])

    assert seen == [1, 3, 1, 3]
    assert failed == ["vega", "vega"]
    assert pipeline.failures == {"vega": 2}
    assert "pipeline stage vega failed" in caplog.text


def test_a_removed_stage_no_longer_runs() -> None:
    pipeline = Pipeline()
    ran: list[str] = []
    remove = pipeline.add(Step.OBSERVE, "feed", lambda envelopes: ran.append("feed"))
    pipeline.add(Step.DELIVER, "hub", lambda envelopes: ran.append("hub"))
    remove()
    remove()  # idempotent
    pipeline.on_envelopes([])
    assert ran == ["hub"]


def test_a_failure_callback_that_raises_does_not_stop_the_batch() -> None:
    def count(name: str) -> None:
        raise RuntimeError("metrics down")

    pipeline = Pipeline(on_failure=count)
    ran: list[str] = []

    def broken(envelopes: Sequence[Envelope]) -> None:
        raise ValueError

    pipeline.add(Step.DELIVER, "hub", broken)
    pipeline.add(Step.OBSERVE, "feed", lambda envelopes: ran.append("feed"))
    pipeline.on_envelopes([])
    assert ran == ["feed"]


def test_the_keepers_position_is_one_object_until_the_next_envelope() -> None:
    """Readers (Vega's change scan) compare positions by identity: a position read twice with no
    envelope between is the same object, and a new envelope gives a new one."""
    from tickcast.model import Envelope, StreamPosition, Trade
    from tickcast.model.events import Side
    from tickcast.state import StateKeeper

    keeper = StateKeeper()
    assert keeper.position("trades:m") is None
    trade = Trade("m", "1", 1, 1, Side.BUY, 1)
    keeper.apply(Envelope("trades:m", 1, "e", trade, 0))
    first = keeper.position("trades:m")
    assert first == StreamPosition(1, "e") and keeper.position("trades:m") is first
    keeper.apply(Envelope("trades:m", 2, "e", trade, 0))
    second = keeper.position("trades:m")
    assert second == StreamPosition(2, "e") and second is not first
    assert keeper.position("trades:m") is second
