"""Tests for the per-connection outbox."""

from __future__ import annotations

import random

import pytest

from tickcast.delivery.outbox import Outbox, OverflowPolicy, Resync, Verdict


def _frame(stream: str, seq: int, size: int = 10) -> bytes:
    return f"{stream}:{seq}:".encode().ljust(size, b".")


def test_outbox_drain_is_fifo_across_streams() -> None:
    """Frames come out in push order, whatever their stream."""
    box = Outbox(max_bytes=1000)
    frames = [_frame("a", 1), _frame("b", 1), b"ctl", _frame("a", 2)]
    box.push(frames[0], stream="a", seq=1, state=False)
    box.push(frames[1], stream="b", seq=1, state=True)
    box.push_control(frames[2])
    box.push(frames[3], stream="a", seq=2, state=False)
    assert len(box) == 4
    assert box.drain() == frames
    assert len(box) == 0 and box.drain() == []


def test_outbox_does_not_copy_frames() -> None:
    """Drained frames are the very objects pushed."""
    box = Outbox(max_bytes=100)
    frame = _frame("a", 1)
    box.push(frame, stream="a", seq=1, state=False)
    assert box.drain()[0] is frame


def test_outbox_counts_bytes() -> None:
    """pending_bytes follows pushes, control frames and drains."""
    box = Outbox(max_bytes=100)
    box.push(b"x" * 10, stream="a", seq=1, state=False)
    box.push_control(b"y" * 5)
    box.push(b"z" * 20, stream="b", seq=1, state=False)
    assert box.pending_bytes == 35
    assert box.drain(15) == [b"x" * 10, b"y" * 5]
    assert box.pending_bytes == 20


def test_outbox_drain_limit_returns_at_least_one_frame() -> None:
    """A byte-limited drain returns one frame even when it is larger than the limit."""
    box = Outbox(max_bytes=100)
    box.push(b"x" * 30, stream="a", seq=1, state=False)
    box.push(b"y" * 30, stream="a", seq=2, state=False)
    assert box.drain(5) == [b"x" * 30]
    assert box.drain(59) == [b"y" * 30]


def test_outbox_warns_above_ratio() -> None:
    """WARN is returned once pending bytes exceed warn_ratio * max_bytes."""
    box = Outbox(max_bytes=100, warn_ratio=0.6)
    assert box.push(b"x" * 60, stream="a", seq=1, state=False) is Verdict.OK
    assert not box.warned
    assert box.push(b"x", stream="a", seq=2, state=False) is Verdict.WARN
    assert box.warned
    box.drain(1)
    assert not box.warned


def test_outbox_disconnect_policy_refuses_overflow() -> None:
    """DISCONNECT returns OVERFLOW, queues nothing and marks the outbox overflowed."""
    box = Outbox(max_bytes=20, policy=OverflowPolicy.DISCONNECT)
    box.push(b"x" * 15, stream="a", seq=1, state=True)
    assert box.push(b"y" * 6, stream="a", seq=2, state=True) is Verdict.OVERFLOW
    assert box.overflowed
    assert box.pending_bytes == 15 and len(box) == 1
    box.drain()
    assert box.take_resyncs() == []


def test_outbox_state_overflow_conflates_stream() -> None:
    """A STATE overflow removes that stream's queued frames only and yields one snapshot."""
    box = Outbox(max_bytes=50)
    box.push(_frame("book", 1), stream="book", seq=1, state=True)
    box.push(_frame("trades", 1), stream="trades", seq=1, state=False)
    box.push(_frame("book", 2), stream="book", seq=2, state=True)
    box.push(_frame("quotes", 1), stream="quotes", seq=1, state=True)
    box.push(_frame("book", 3), stream="book", seq=3, state=True)
    assert box.push(_frame("book", 4), stream="book", seq=4, state=True) is Verdict.OVERFLOW
    assert box.overflowed and box.is_dropping("book")
    assert box.push(_frame("book", 5), stream="book", seq=5, state=True) is Verdict.OVERFLOW
    assert box.drain() == [_frame("trades", 1), _frame("quotes", 1)]
    assert box.take_resyncs() == [Resync("book", snapshot=True, gap_from=0, gap_to=5)]
    assert box.take_resyncs() == []
    assert not box.overflowed
    assert box.push(_frame("book", 6), stream="book", seq=6, state=True) is Verdict.OK


def test_outbox_event_overflow_records_exact_gap() -> None:
    """An EVENT overflow keeps queued frames and reports the dropped seq range."""
    box = Outbox(max_bytes=30)
    for seq in (1, 2, 3):
        assert box.push(_frame("t", seq), stream="t", seq=seq, state=False) is not Verdict.OVERFLOW
    for seq in (4, 5, 6):
        assert box.push(_frame("t", seq), stream="t", seq=seq, state=False) is Verdict.OVERFLOW
    assert box.drain() == [_frame("t", 1), _frame("t", 2), _frame("t", 3)]
    assert box.push(_frame("t", 7), stream="t", seq=7, state=False) is Verdict.OVERFLOW
    assert box.take_resyncs() == [Resync("t", snapshot=False, gap_from=4, gap_to=7)]
    assert box.push(_frame("t", 8), stream="t", seq=8, state=False) is Verdict.OK


def test_outbox_resyncs_only_after_draining_below_half() -> None:
    """No resync while pending bytes stay at or above half of max_bytes."""
    box = Outbox(max_bytes=100)
    for seq in range(1, 11):
        box.push(_frame("t", seq), stream="t", seq=seq, state=False)
    assert box.push(_frame("t", 11), stream="t", seq=11, state=False) is Verdict.OVERFLOW
    assert box.take_resyncs() == []
    box.drain(50)
    assert box.pending_bytes == 50
    assert box.take_resyncs() == []
    box.drain(1)
    assert box.take_resyncs() == [Resync("t", snapshot=False, gap_from=11, gap_to=11)]


def test_outbox_recovery_latches_until_taken() -> None:
    """Once drained below half, the resync survives pushes that refill the outbox."""
    box = Outbox(max_bytes=40)
    for seq in range(1, 5):
        box.push(_frame("t", seq), stream="t", seq=seq, state=False)
    box.push(_frame("t", 5), stream="t", seq=5, state=False)
    box.drain()
    for seq in range(1, 4):
        box.push(_frame("o", seq), stream="o", seq=seq, state=False)
    box.push(_frame("t", 6), stream="t", seq=6, state=False)
    assert box.take_resyncs() == [Resync("t", snapshot=False, gap_from=5, gap_to=6)]


def test_outbox_forget_drops_stream() -> None:
    """forget() removes the stream's queued frames and its resync state."""
    box = Outbox(max_bytes=30)
    box.push(_frame("a", 1), stream="a", seq=1, state=False)
    box.push(_frame("b", 1), stream="b", seq=1, state=False)
    box.push(_frame("a", 2), stream="a", seq=2, state=False)
    box.push(_frame("a", 3), stream="a", seq=3, state=False)
    assert box.is_dropping("a")
    box.forget("a")
    assert not box.is_dropping("a") and not box.overflowed
    assert box.pending_bytes == 10
    assert box.take_resyncs() == []
    assert box.drain() == [_frame("b", 1)]


def test_outbox_control_frames_never_dropped() -> None:
    """Control frames are queued even beyond max_bytes and survive conflation."""
    box = Outbox(max_bytes=20)
    box.push(_frame("s", 1), stream="s", seq=1, state=True)
    box.push_control(b"c" * 15)
    assert box.push(_frame("s", 2), stream="s", seq=2, state=True) is Verdict.OVERFLOW
    assert box.push_control(b"d" * 30) is Verdict.WARN
    assert box.pending_bytes == 45
    assert box.drain() == [b"c" * 15, b"d" * 30]


def test_outbox_rejects_bad_settings() -> None:
    """max_bytes must be positive and warn_ratio within (0, 1]."""
    with pytest.raises(ValueError):
        Outbox(max_bytes=0)
    with pytest.raises(ValueError):
        Outbox(max_bytes=10, warn_ratio=1.5)


@pytest.mark.parametrize("seed", range(4))
def test_outbox_random_traffic_stays_bounded_and_accounts_gaps(seed: int) -> None:
    """Memory stays within max_bytes plus control bytes; EVENT seqs are delivered or gapped."""
    rng = random.Random(seed)
    box = Outbox(max_bytes=500)
    streams = {"t1": False, "t2": False, "b1": True, "b2": True}
    next_seq = dict.fromkeys(streams, 1)
    delivered: dict[str, list[int]] = {name: [] for name in streams}
    gaps: dict[str, list[tuple[int, int]]] = {name: [] for name in streams}
    control = 0

    def collect(frames: list[bytes]) -> None:
        nonlocal control
        for frame in frames:
            if frame.startswith(b"!"):
                control -= len(frame)
            else:
                name, seq, _ = frame.split(b":", 2)
                delivered[name.decode()].append(int(seq))

    for _ in range(20000):
        roll = rng.random()
        if roll < 0.8:
            name = rng.choice(list(streams))
            seq = next_seq[name]
            next_seq[name] += 1
            box.push(
                _frame(name, seq, rng.randint(8, 60)), stream=name, seq=seq, state=streams[name]
            )
        elif roll < 0.82:
            frame = b"!" * rng.randint(1, 40)
            control += len(frame)
            box.push_control(frame)
        else:
            collect(box.drain(rng.choice([None, 1, 100, 300])))
            for resync in box.take_resyncs():
                gaps[resync.stream].append((resync.gap_from, resync.gap_to))
        assert box.pending_bytes <= box.max_bytes + control
    collect(box.drain())
    for resync in box.take_resyncs():
        gaps[resync.stream].append((resync.gap_from, resync.gap_to))
    assert box.pending_bytes == 0 and control == 0
    for name in ("t1", "t2"):
        seen = delivered[name] + [s for lo, hi in gaps[name] for s in range(lo, hi + 1)]
        assert delivered[name] == sorted(delivered[name])
        assert sorted(seen) == list(range(1, next_seq[name]))
        assert gaps[name], "the traffic should have overflowed at least once"
