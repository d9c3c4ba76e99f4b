"""``Outbox.extend`` (a channel's batch for a demoted member) ends exactly where one ``push`` per
frame would: seeded random batches over several streams, both policies, drains in between."""

from __future__ import annotations

import random

import pytest

from tickcast.delivery.outbox import Outbox, OverflowPolicy, Verdict


def _state(outbox: Outbox) -> tuple[object, ...]:
    return (outbox.pending_bytes, outbox.warned, outbox.overflowed, len(outbox))


@pytest.mark.parametrize("policy", list(OverflowPolicy))
@pytest.mark.parametrize("seed", range(20))
def test_extend_equals_pushing_frame_by_frame(policy: OverflowPolicy, seed: int) -> None:
    rng = random.Random(seed)
    batched = Outbox(max_bytes=4_000, policy=policy)
    single = Outbox(max_bytes=4_000, policy=policy)
    seqs = {"a": 0, "b": 0, "c": 0}
    refused_batched = refused_single = extended = 0
    for _ in range(300):
        pending: list[tuple[str, int, bool, bytes]] = []
        for _ in range(rng.randrange(1, 12)):
            stream = rng.choice("abc")
            seqs[stream] += 1
            frame = bytes(rng.randrange(1, 300))
            pending.append((stream, seqs[stream], stream == "c", frame))
        entries = [(stream, frame) for stream, _, _, frame in pending]
        if batched.extend(entries, sum(len(frame) for _, frame in entries)):
            extended += 1
        else:
            for stream, seq, state, frame in pending:
                verdict = batched.push(frame, stream=stream, seq=seq, state=state)
                refused_batched += verdict is Verdict.OVERFLOW
        for stream, seq, state, frame in pending:
            verdict = single.push(frame, stream=stream, seq=seq, state=state)
            refused_single += verdict is Verdict.OVERFLOW
        assert _state(batched) == _state(single)
        if rng.random() < 0.3:
            limit = rng.choice((None, 500, 2_000))
            assert batched.drain(limit) == single.drain(limit)
            assert batched.take_resyncs() == single.take_resyncs()
    assert refused_batched == refused_single
    assert extended > 0
