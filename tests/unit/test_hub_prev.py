"""Every Update carries ``prev`` (issue 17 point 6): the seq of the previous message of its
stream that the subscription received, on every view, live and replayed; the SDK checks it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from tests.unit.test_hub import (
    BOOK,
    MARKET,
    TRADES,
    FakeSubscriber,
    join,
    setup,
    trade,
)
from tests.unit.test_hub_replay import drain

from tickcast.client.messages import PREV_MISMATCH, Gap, Update, parse_message
from tickcast.client.tracker import StreamTracker
from tickcast.model import BookDelta, BookSnapshot, StreamPosition, View

CAROL = View(party="carol")


def assert_chain(frames: Sequence[dict[str, Any]], baseline: int) -> None:
    """The documented rule: the first Update after a baseline (Subscribed, Snapshot, Gap) has
    ``prev <= baseline``; every later one has ``prev`` equal to the last message's seq."""
    last, loose = baseline, True
    for frame in frames:
        if frame["type"] == "Update":
            assert frame["prev"] <= last if loose else frame["prev"] == last, (frame, last)
            last, loose = frame["seq"], False
        elif frame["type"] == "Snapshot":
            last, loose = frame["seq"], True
        elif frame["type"] == "Gap":
            last, loose = frame["to"], True


def carol_trades(first: int, last: int, every: int = 3) -> list[Any]:
    return [trade(n, buyer="carol" if n % every == 0 else "a") for n in range(first, last + 1)]


@pytest.mark.parametrize("paged", [False, True])
async def test_party_view_prev_chain_is_unbroken_live_and_across_a_resume(paged: bool) -> None:
    bus, hub, encoder, _ = setup()
    live = FakeSubscriber()
    await join(hub, live, encoder, TRADES, CAROL)
    bus.publish_nowait(carol_trades(1, 10))
    first = live.frames()
    assert [(f["seq"], f["prev"]) for f in first] == [(3, 0), (6, 3), (9, 6)]
    # a client that got up to seq 6 resumes: the replay continues its chain, then live
    again = FakeSubscriber()
    joined = await hub.attach(
        again, encoder, TRADES, CAROL, StreamPosition(6, "e1"), page_replay=paged
    )
    bus.publish_nowait(carol_trades(11, 12))  # live while joining
    hub.go_live(again, joined, encoder)
    bus.publish_nowait(carol_trades(13, 16))
    resumed = drain(hub, again)
    assert [(f["seq"], f["prev"]) for f in resumed] == [(9, 6), (12, 9), (15, 12)]
    assert_chain(resumed, 6)
    assert [(f["seq"], f["prev"]) for f in live.frames()] == [(12, 9), (15, 12)]


@pytest.mark.parametrize("paged", [False, True])
async def test_a_resume_that_creates_the_group_continues_its_own_chain(paged: bool) -> None:
    """The group starts at the stream's position; the live frames after the replay still
    continue the replay's chain (seq 3, not the group's start)."""
    bus, hub, encoder, _ = setup()
    bus.publish_nowait(carol_trades(1, 5))
    sub = FakeSubscriber()
    joined = await hub.attach(
        sub, encoder, TRADES, CAROL, StreamPosition(1, "e1"), page_replay=paged
    )
    hub.go_live(sub, joined, encoder)
    bus.publish_nowait(carol_trades(6, 9))
    frames = drain(hub, sub)
    assert [(f["seq"], f["prev"]) for f in frames] == [(3, 1), (6, 3), (9, 6)]
    # and once more with a live frame buffered during the join
    bus2, hub2, encoder2, _ = setup()
    bus2.publish_nowait(carol_trades(1, 5))
    sub2 = FakeSubscriber()
    joined2 = await hub2.attach(sub2, encoder2, TRADES, CAROL, StreamPosition(1, "e1"))
    bus2.publish_nowait(carol_trades(6, 6))
    hub2.go_live(sub2, joined2, encoder2)
    assert [(f["seq"], f["prev"]) for f in sub2.frames()] == [(3, 1), (6, 3)]


async def test_depth_view_prev_skips_only_what_the_view_skips() -> None:
    bus, hub, encoder, checksummer = setup()
    bids = tuple((10000 - i, 1000) for i in range(5))
    asks = tuple((10010 + i, 1000) for i in range(5))
    bus.publish_nowait(checksummer.annotate([BookSnapshot(MARKET.id, bids, asks, 0)]))
    sub = FakeSubscriber()
    await join(hub, sub, encoder, BOOK, View(depth=1))
    deltas = [
        BookDelta(MARKET.id, ((9990, 500),), (), 2),  # below the top: skipped
        BookDelta(MARKET.id, ((10000, 2000),), (), 3),  # the top: seq 3
        BookDelta(MARKET.id, ((9980, 1),), (), 4),  # skipped
        BookDelta(MARKET.id, (), ((10010, 7),), 5),  # seq 5
    ]
    bus.publish_nowait(checksummer.annotate(deltas))
    frames = sub.frames()
    assert [(f["type"], f["seq"], f.get("prev")) for f in frames] == [
        ("Snapshot", 1, None),
        ("Update", 3, 1),
        ("Update", 5, 3),
    ]
    assert_chain(frames, 0)
    # a second member joining later: its first Update's prev is at most its snapshot's seq
    late = FakeSubscriber()
    await join(hub, late, encoder, BOOK, View(depth=1))
    bus.publish_nowait(checksummer.annotate([BookDelta(MARKET.id, ((9970, 1),), (), 6)]))
    bus.publish_nowait(checksummer.annotate([BookDelta(MARKET.id, ((10000, 1),), (), 7)]))
    late_frames = late.frames()
    assert [(f["type"], f["seq"], f.get("prev")) for f in late_frames] == [
        ("Snapshot", 5, None),
        ("Update", 7, 5),
    ]
    assert_chain(late_frames, 0)


async def test_unfiltered_prev_is_seq_minus_one() -> None:
    bus, hub, encoder, _ = setup()
    sub = FakeSubscriber()
    await join(hub, sub, encoder, TRADES)
    bus.publish_nowait([trade(n) for n in range(1, 4)])
    assert [(f["seq"], f["prev"]) for f in sub.frames()] == [(1, 0), (2, 1), (3, 2)]


async def test_the_sdk_reports_a_dropped_filtered_frame_as_a_typed_gap() -> None:
    """A filtered view skips seqs by design: a frame lost on the way is only visible through
    ``prev``, and the SDK reports it as a ``Gap`` with reason ``prev_mismatch``."""
    bus, hub, encoder, _ = setup()
    sub = FakeSubscriber()
    await join(hub, sub, encoder, TRADES, CAROL)
    bus.publish_nowait(carol_trades(1, 13))
    frames = sub.outbox.drain()
    assert len(frames) == 4  # seqs 3, 6, 9, 12
    tracker = StreamTracker()
    tracker.add(str(TRADES), filtered=True, resume=StreamPosition(0, "e1"))
    kept = [frames[0], frames[1], frames[3]]  # the connection lost seq 9
    out = [m for frame in kept for m in tracker.handle(parse_message(frame)).messages]  # type: ignore[arg-type]
    assert [type(m) for m in out] == [Update, Update, Gap, Update]
    gap = out[2]
    assert isinstance(gap, Gap) and gap.reason == PREV_MISMATCH
    assert (gap.from_seq, gap.to_seq) == (7, 11)
    assert tracker.stats.gaps == 1
    # intact, the same frames pass without a gap
    clean = StreamTracker()
    clean.add(str(TRADES), filtered=True, resume=StreamPosition(0, "e1"))
    for frame in frames:
        assert not any(isinstance(m, Gap) for m in clean.handle(parse_message(frame)).messages)  # type: ignore[arg-type]


def test_prev_is_parsed_and_optional() -> None:
    body = {"type": "Update", "stream": "s", "seq": 5, "prev": 2, "data": {}}
    assert parse_message(json.dumps(body)) == Update("s", 5, {}, None, 2)
    del body["prev"]
    assert parse_message(json.dumps(body)) == Update("s", 5, {}, None, None)
