"""Resume planning rules (DESIGN §3) and bounded history."""

from __future__ import annotations

import pytest

from tickcast.delivery.history import StreamHistory
from tickcast.delivery.recovery import (
    GapReason,
    GapThenReplay,
    Replay,
    ResetSnapshot,
    plan_resume,
)
from tickcast.model import Envelope, Side, StreamPosition, Trade


def envelope(seq: int, epoch: str = "e1") -> Envelope:
    event = Trade("x-a-b-spot", str(seq), 1, 1, Side.BUY, seq)
    return Envelope("trades:x-a-b-spot", seq, epoch, event, 0)


def history(first: int, last: int, size: int = 100) -> StreamHistory:
    h = StreamHistory(max_events=size)
    for seq in range(first, last + 1):
        h.append(envelope(seq))
    return h


def test_history_keeps_only_the_newest_events() -> None:
    """Appending past max_events drops the oldest; since() refuses ranges that fell off."""
    h = history(1, 10, size=4)
    assert (h.first_seq, h.last_seq, len(h)) == (7, 10, 4)
    assert [e.seq for e in h.since(6) or []] == [7, 8, 9, 10]
    assert h.since(5) is None
    assert h.since(10) == []
    assert h.since(11) is None


def test_history_rejects_holes() -> None:
    """History is dense: appending out of order is a bug and raises."""
    h = history(1, 3)
    with pytest.raises(ValueError):
        h.append(envelope(5))


def test_resume_replays_when_history_covers_the_hole() -> None:
    """Same epoch and seq+1 still held: replay exactly the missed events."""
    plan = plan_resume(
        state=False,
        requested=StreamPosition(5, "e1"),
        current=StreamPosition(9, "e1"),
        history=history(3, 9).items(),
    )
    assert isinstance(plan, Replay)
    assert [e.seq for e in plan.envelopes] == [6, 7, 8, 9]


def test_resume_up_to_date_replays_nothing() -> None:
    """A client already at the head gets an empty replay, not a snapshot."""
    plan = plan_resume(
        state=True,
        requested=StreamPosition(9, "e1"),
        current=StreamPosition(9, "e1"),
        history=history(3, 9).items(),
    )
    assert plan == Replay(())


def test_resume_state_stream_beyond_history_resets() -> None:
    """A STATE stream whose missed updates fell off gets a reset snapshot."""
    plan = plan_resume(
        state=True,
        requested=StreamPosition(1, "e1"),
        current=StreamPosition(9, "e1"),
        history=history(5, 9).items(),
    )
    assert plan == ResetSnapshot(GapReason.HISTORY)


def test_resume_event_stream_beyond_history_reports_the_exact_gap() -> None:
    """An EVENT stream gets the missing range, then what history still holds."""
    plan = plan_resume(
        state=False,
        requested=StreamPosition(1, "e1"),
        current=StreamPosition(9, "e1"),
        history=history(5, 9).items(),
    )
    assert isinstance(plan, GapThenReplay)
    assert (plan.from_seq, plan.to_seq, plan.reason) == (2, 4, GapReason.HISTORY)
    assert [e.seq for e in plan.envelopes] == [5, 6, 7, 8, 9]


def test_resume_other_epoch_is_an_epoch_gap() -> None:
    """A position from another epoch never continues silently."""
    plan = plan_resume(
        state=False,
        requested=StreamPosition(50, "old"),
        current=StreamPosition(3, "e1"),
        history=history(1, 3).items(),
    )
    assert isinstance(plan, GapThenReplay) and plan.reason is GapReason.EPOCH
    assert [e.seq for e in plan.envelopes] == [1, 2, 3]
    state_plan = plan_resume(
        state=True,
        requested=StreamPosition(50, "old"),
        current=StreamPosition(3, "e1"),
        history=history(1, 3).items(),
    )
    assert state_plan == ResetSnapshot(GapReason.EPOCH)


def test_resume_caps_replay_at_the_plan_history_depth() -> None:
    """max_replay limits what may be replayed; the rest is a gap."""
    plan = plan_resume(
        state=False,
        requested=StreamPosition(0, "e1"),
        current=StreamPosition(9, "e1"),
        history=history(1, 9).items(),
        max_replay=3,
    )
    assert isinstance(plan, GapThenReplay)
    assert (plan.from_seq, plan.to_seq) == (1, 6)
    assert [e.seq for e in plan.envelopes] == [7, 8, 9]
