"""Shared batches: one bytes object per pass for every direct member; laggards fall back."""

from __future__ import annotations

from tickcast.delivery.channel import Channel, websocket_text_frames
from tickcast.delivery.outbox import Outbox


class FakeSink:
    """A transport: records what it was given; ``stalled`` keeps everything in its backlog."""

    framing = staticmethod(websocket_text_frames)

    def __init__(self, *, stalled: bool = False) -> None:
        self.writes: list[bytes] = []
        self.stalled = stalled
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self.stalled:
            self.buffered += len(data)

    def backlog(self) -> int:
        return self.buffered


class FakeMember:
    def __init__(self, budget: int = 1 << 20) -> None:
        self.outbox = Outbox(max_bytes=budget)
        self.woken = 0
        self.overflows = 0
        self.reported = (0, 0)

    def wake(self) -> None:
        self.woken += 1

    def overflow(self) -> None:
        self.overflows += 1

    def delivered(self, messages: int, nbytes: int) -> None:
        count, size = self.reported
        self.reported = (count + messages, size + nbytes)


def _direct(channel: Channel, member: FakeMember, sink: FakeSink) -> None:
    channel.join(member)
    assert channel.promote(member, sink)


def _frame(n: int) -> bytes:
    return b'{"seq":%d,"pad":"%s"}' % (n, b"x" * 100)


def test_identical_subscription_sets_get_the_same_bytes_object() -> None:
    """One flush builds one batch; every direct member's transport gets that very object."""
    channel = Channel("set", websocket_text_frames)
    members = [FakeMember() for _ in range(3)]
    sinks = [FakeSink() for _ in range(3)]
    for member, sink in zip(members, sinks, strict=True):
        _direct(channel, member, sink)
    assert channel.add("trades:x", 1, False, _frame(1))
    assert not channel.add("trades:x", 2, False, _frame(2))  # already scheduled
    assert channel.flush() == 3
    first = sinks[0].writes[0]
    assert all(len(sink.writes) == 1 and sink.writes[0] is first for sink in sinks)
    assert first == websocket_text_frames([_frame(1), _frame(2)])
    assert all(len(member.outbox) == 0 and member.woken == 0 for member in members)
    assert channel.flush() == 0  # nothing pending: no write at all


def test_a_lagging_member_falls_back_without_affecting_the_others() -> None:
    """A member whose transport holds more than the limit is demoted to its own outbox; the
    others keep getting every batch, and it returns once its outbox has drained."""
    channel = Channel("set", websocket_text_frames, backlog_limit=1_000)
    demoted: list[int] = []
    channel.on_demote = demoted.append
    fast, slow = FakeMember(), FakeMember()
    fast_sink, slow_sink = FakeSink(), FakeSink(stalled=True)
    _direct(channel, fast, fast_sink)
    _direct(channel, slow, slow_sink)
    for n in range(1, 31):
        channel.add("trades:x", n, False, _frame(n))
        channel.flush()
    assert len(fast_sink.writes) == 30
    assert demoted == [id(slow)]
    # the stalled transport took batches until it passed the limit, then none
    assert slow_sink.buffered <= 1_000 + len(websocket_text_frames([_frame(1)]))
    written = len(slow_sink.writes)
    assert written < 30
    queued = slow.outbox.drain()
    assert queued == [_frame(n) for n in range(written + 1, 31)]  # the rest, in order
    assert slow.woken > 0
    # drained: the slow member's transport caught up, so it becomes direct again
    slow_sink.buffered = 0
    assert channel.promote(slow, slow_sink)
    channel.add("trades:x", 31, False, _frame(31))
    channel.flush()
    assert fast_sink.writes[-1] is slow_sink.writes[-1]


def test_a_demoted_member_is_bounded_by_its_outbox() -> None:
    """Memory per laggard is its outbox budget: later frames are dropped (RESYNC), counted."""
    channel = Channel("set", websocket_text_frames)
    member = FakeMember(budget=4_096)
    channel.join(member)  # never promoted: its outbox is never drained
    for n in range(1, 201):
        channel.add("trades:x", n, False, _frame(n))
        channel.flush()
    assert member.outbox.pending_bytes <= 4_096
    assert member.overflows > 0
    assert member.outbox.is_dropping("trades:x")
    assert not channel.promote(member, FakeSink())  # not while frames are queued


def test_promote_waits_for_an_empty_outbox_and_a_drained_transport() -> None:
    channel = Channel("set", websocket_text_frames, backlog_limit=1_000)
    member, sink = FakeMember(), FakeSink()
    channel.join(member)
    member.outbox.push_control(b'{"type":"Subscribed"}')
    assert not channel.promote(member, sink)
    member.outbox.drain()
    sink.buffered = 900  # over half the limit
    assert not channel.promote(member, sink)
    sink.buffered = 0
    assert channel.promote(member, sink) and channel.is_direct(member)


def test_direct_deliveries_are_reported_in_arrears() -> None:
    channel = Channel("set", websocket_text_frames)
    member, sink = FakeMember(), FakeSink()
    _direct(channel, member, sink)
    for n in range(1, 4):
        channel.add("trades:x", n, False, _frame(n))
    channel.flush()
    assert member.reported == (0, 0)
    channel.settle()
    assert member.reported == (3, 3 * len(_frame(1)))
    channel.leave(member)
    assert len(channel) == 0


def test_websocket_text_frames_headers() -> None:
    short, medium, large = b"a" * 125, b"b" * 126, b"c" * 65_536
    data = websocket_text_frames([short, medium, large])
    assert data[:2] == b"\x81\x7d" and data[2:127] == short
    rest = data[127:]
    assert rest[:4] == b"\x81\x7e\x00\x7e" and rest[4:130] == medium
    rest = rest[130:]
    assert rest[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big") and rest[10:] == large
