"""DepthSequencer: untracked book changes still take a sequence number, so gaps show."""

from __future__ import annotations

from tickcast.dialects.vega.wire.depth import DepthSequencer

T0 = 1_700_000_000_000_000_000


def test_untracked_changes_advance_the_sequence_and_show_as_a_gap() -> None:
    depth = DepthSequencer()
    depth.changed("m", ((100, 1),), ())
    (first,) = depth.flush(T0)
    depth.touch("m")  # nobody streamed depth updates during this block
    assert depth.flush(T0 + 1_000_000) == []
    skipped = depth.last_sequence("m")
    assert skipped > first.sequence  # what GET .../latest names from now on
    depth.changed("m", ((100, 2),), ())
    (after,) = depth.flush(T0 + 2_000_000)
    assert after.previous == skipped  # continues from latest: no gap
    depth.touch("m")  # untracked changes before a subscriber came, in the same block
    depth.changed("m", ((100, 3),), ())
    (mixed,) = depth.flush(T0 + 3_000_000)
    assert mixed.previous != after.sequence  # a gap: the client refetches the whole depth
