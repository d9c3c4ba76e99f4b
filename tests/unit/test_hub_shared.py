"""The hub's shared path: subscribers with identical subscription sets share one batch."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.unit.delivery.test_channel import FakeSink
from tests.unit.test_hub import BOOK, CATALOG, MARKET, TRADES, trade

from tickcast.bus import MemoryBus
from tickcast.delivery.channel import websocket_text_frames
from tickcast.delivery.outbox import Outbox
from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.hub import Hub
from tickcast.model import FULL_VIEW, BookSnapshot, StreamKey
from tickcast.state import BookChecksummer


class SharedSubscriber:
    """A subscriber with a transport; its 'writer' is ``drain`` (outbox → sink, then promote)."""

    def __init__(self, hub: Hub, sink: FakeSink | None = None, budget: int = 1 << 20) -> None:
        self.hub = hub
        self.sink = sink or FakeSink()
        self.outbox = Outbox(max_bytes=budget)
        self.woken = 0
        self.delivered_frames = 0

    def wake(self) -> None:
        self.woken += 1

    def overflow(self) -> None:
        pass

    def direct_sink(self) -> FakeSink:
        return self.sink

    def delivered(self, messages: int, nbytes: int) -> None:
        self.delivered_frames += messages

    def drain(self) -> None:
        frames = self.outbox.drain()
        if frames:
            self.sink.write(websocket_text_frames(frames))
        for resync in self.outbox.take_resyncs():
            self.hub.resync(self, resync)
            self.sink.write(websocket_text_frames(self.outbox.drain()))
        self.hub.promote(self)

    def updates(self) -> list[object]:
        return [m["seq"] for m in self.messages() if m["type"] == "Update"]

    def messages(self) -> list[dict[str, object]]:
        """Every frame written to the transport, decoded."""
        out = []
        for data in self.sink.writes:
            while data:
                length, start = data[1], 2
                if length == 126:
                    length, start = int.from_bytes(data[2:4], "big"), 4
                assert data[0] == 0x81 and length < 65_536
                out.append(json.loads(data[start : start + length]))
                data = data[start + length :]
        return out


def setup() -> tuple[MemoryBus, Hub, NativeEncoder, list[Callable[[], None]]]:
    bus = MemoryBus(history_size=100, epoch="e1")
    scheduled: list[Callable[[], None]] = []
    hub = Hub(bus=bus, catalog=CATALOG, schedule=scheduled.append)
    return bus, hub, NativeEncoder(catalog=CATALOG), scheduled


async def join(hub: Hub, sub: SharedSubscriber, encoder: NativeEncoder, key: StreamKey) -> None:
    joined = await hub.attach(sub, encoder, key, FULL_VIEW, None)
    hub.go_live(sub, joined, encoder)
    sub.drain()


def run_pass(scheduled: list[Callable[[], None]]) -> None:
    while scheduled:
        scheduled.pop(0)()


async def test_identical_sets_share_one_batch_object_per_pass() -> None:
    bus, hub, encoder, scheduled = setup()
    subs = [SharedSubscriber(hub) for _ in range(3)]
    for sub in subs:
        await join(hub, sub, encoder, TRADES)
    assert all(hub.is_direct(sub) for sub in subs)
    assert hub.channel_count() == 1
    bus.publish_nowait([trade(1)])
    bus.publish_nowait([trade(2), trade(3)])
    assert len(scheduled) == 1  # one flush per pass, however many publishes
    run_pass(scheduled)
    batches = [sub.sink.writes[-1] for sub in subs]
    assert batches[0] is batches[1] is batches[2]
    assert subs[0].updates() == [1, 2, 3]
    assert all(len(sub.outbox) == 0 for sub in subs)  # no per-client queueing
    hub.settle()
    assert all(sub.delivered_frames == 3 for sub in subs)


async def test_different_sets_get_their_own_channels_and_joins_keep_order() -> None:
    bus, hub, encoder, scheduled = setup()
    checksummer = BookChecksummer(catalog=CATALOG)
    bus.publish_nowait(
        checksummer.annotate([BookSnapshot(MARKET.id, ((9000, 1000),), ((9100, 1000),), 0)])
    )
    trades_only, both = SharedSubscriber(hub), SharedSubscriber(hub)
    await join(hub, trades_only, encoder, TRADES)
    await join(hub, both, encoder, TRADES)
    bus.publish_nowait([trade(1)])
    # joining a second stream: pending frames go out first, then Subscribed... via the outbox
    joined = await hub.attach(both, encoder, BOOK, FULL_VIEW, None)
    bus.publish_nowait([trade(2)])
    hub.go_live(both, joined, encoder)
    assert not hub.is_direct(both) and hub.channel_count() == 2
    bus.publish_nowait([trade(3)])
    run_pass(scheduled)
    both.drain()
    assert hub.is_direct(both)
    bus.publish_nowait([trade(4)])
    run_pass(scheduled)
    got = [(m["type"], m.get("stream", ""), m.get("seq")) for m in both.messages()]
    trades = [seq for kind, stream, seq in got if kind == "Update" and stream == str(TRADES)]
    assert trades == [1, 2, 3, 4]  # no loss, no duplicate across the move
    assert ("Snapshot", str(BOOK), 1) in got
    assert trades_only.updates() == [1, 2, 3, 4]
    # leaving the book stream moves it back next to the trades-only subscriber
    hub.detach(both, str(BOOK))
    both.drain()
    assert hub.channel_count() == 1
    bus.publish_nowait([trade(5)])
    run_pass(scheduled)
    assert both.sink.writes[-1] is trades_only.sink.writes[-1]


async def test_a_stalled_subscriber_falls_back_and_is_bounded() -> None:
    """A subscriber whose transport stops taking bytes is demoted to its outbox (bounded, RESYNC
    with a Gap afterwards); the others keep their shared batches and the hub reports the lag."""
    bus, hub, encoder, scheduled = setup()
    fast = SharedSubscriber(hub)
    slow = SharedSubscriber(hub, FakeSink(stalled=True), budget=8_192)
    await join(hub, fast, encoder, TRADES)
    await join(hub, slow, encoder, TRADES)
    for n in range(1, 3001):
        bus.publish_nowait([trade(n)])
        run_pass(scheduled)
    assert hub.backlogged()
    assert not hub.is_direct(slow) and hub.is_direct(fast)
    assert fast.updates() == list(range(1, 3001))
    assert slow.outbox.pending_bytes <= 8_192
    assert slow.sink.buffered <= 262_144 + 1_000
    # the client reads again: queued frames, then a Gap for what was dropped, then direct
    slow.sink.buffered = 0
    while len(slow.outbox) or slow.outbox.overflowed:
        slow.drain()
    assert hub.is_direct(slow) and not hub.backlogged()
    bus.publish_nowait([trade(3001)])
    run_pass(scheduled)
    seen = slow.messages()
    gaps = [m for m in seen if m["type"] == "Gap"]
    assert len(gaps) == 1 and gaps[0]["to"] == 3000
    seqs = [m["seq"] for m in seen if m["type"] == "Update"]
    assert seqs == sorted(seqs) and seqs[-1] == 3001
    missing = set(range(1, 3002)) - set(seqs)
    assert missing == set(range(gaps[0]["from"], gaps[0]["to"] + 1))
