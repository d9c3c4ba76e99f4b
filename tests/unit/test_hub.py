"""The hub without sockets: encode once, share bytes, join in order, resync after overflow."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tickcast.book import OrderBook, book_checksum
from tickcast.bus import MemoryBus
from tickcast.delivery.outbox import Outbox
from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.hub import Hub
from tickcast.model import (
    FULL_VIEW,
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    Market,
    MarketCatalog,
    MarketKind,
    Side,
    StreamKey,
    StreamPosition,
    Trade,
    View,
)
from tickcast.state import BookChecksummer

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 3)
CATALOG = MarketCatalog([MARKET])
TRADES = StreamKey.parse("trades:acme-foo-usd-spot")
BOOK = StreamKey.parse("book:acme-foo-usd-spot")


class FakeSubscriber:
    def __init__(self, budget: int = 1 << 20) -> None:
        self.outbox = Outbox(max_bytes=budget)
        self.woken = 0
        self.dropped = 0

    def wake(self) -> None:
        self.woken += 1

    def overflow(self) -> None:
        self.dropped += 1

    def frames(self) -> list[dict[str, object]]:
        return [json.loads(frame) for frame in self.outbox.drain()]


def trade(n: int, buyer: str = "a", seller: str = "b") -> Trade:
    return Trade(MARKET.id, str(n), 100 * n, 1000, Side.BUY, n, buyer, seller)


def setup() -> tuple[MemoryBus, Hub, NativeEncoder, BookChecksummer]:
    bus = MemoryBus(history_size=100, epoch="e1")
    return (
        bus,
        Hub(bus=bus, catalog=CATALOG),
        NativeEncoder(catalog=CATALOG),
        BookChecksummer(catalog=CATALOG),
    )


async def join(
    hub: Hub,
    sub: FakeSubscriber,
    encoder: NativeEncoder,
    key: StreamKey,
    view: View = FULL_VIEW,
    resume: StreamPosition | None = None,
) -> None:
    joined = await hub.attach(sub, encoder, key, view, resume)
    hub.go_live(sub, joined, encoder)


async def test_hub_encodes_once_and_shares_the_bytes() -> None:
    """Two subscribers of the same (dialect, stream, view) get the very same bytes object."""
    bus, hub, encoder, _ = setup()
    first, second = FakeSubscriber(), FakeSubscriber()
    await join(hub, first, encoder, TRADES)
    await join(hub, second, encoder, TRADES)
    before = hub.frames_encoded
    bus.publish_nowait([trade(1)])
    assert hub.frames_encoded == before + 1
    (a,), (b,) = first.outbox.drain(), second.outbox.drain()
    assert a is b
    assert first.woken and second.woken


async def test_hub_party_view_filters_events() -> None:
    """A party-filtered view only carries that party's trades."""
    bus, hub, encoder, _ = setup()
    sub = FakeSubscriber()
    await join(hub, sub, encoder, TRADES, View(party="carol"))
    bus.publish_nowait([trade(1), trade(2, buyer="carol"), trade(3, seller="carol")])
    assert [f["seq"] for f in sub.frames()] == [2, 3]


async def test_hub_depth_view_checksums_match_the_view() -> None:
    """A depth-limited book view gets snapshot + deltas whose checksums cover its own levels."""
    bus, hub, encoder, checksummer = setup()
    bids = tuple((10000 - i, 1000) for i in range(5))
    asks = tuple((10010 + i, 1000) for i in range(5))
    snapshot = BookSnapshot(MARKET.id, bids, asks, 0)
    bus.publish_nowait(checksummer.annotate([snapshot]))
    sub = FakeSubscriber()
    await join(hub, sub, encoder, BOOK, View(depth=2))
    bus.publish_nowait(checksummer.annotate([BookDelta(MARKET.id, ((10000, 0),), (), 1)]))
    frames = sub.frames()
    assert [f["type"] for f in frames] == ["Snapshot", "Update"]
    assert frames[0]["data"]["bids"] == [["100.00", "1.000"], ["99.99", "1.000"]]
    assert frames[1]["data"]["bids"] == [["100.00", "0"], ["99.98", "1.000"]]
    local = OrderBook()
    local.apply_snapshot([(9999, 1000), (9998, 1000)], [(10010, 1000), (10011, 1000)])
    assert frames[1]["checksum"] == book_checksum(*local.top(2), price_decimals=2, size_decimals=3)


async def test_hub_buffers_live_frames_while_joining() -> None:
    """Events published between attach and go_live are delivered once, after the snapshot."""
    bus, hub, encoder, checksummer = setup()
    snapshot = BookSnapshot(MARKET.id, ((9000, 1000),), ((9100, 1000),), 0)
    bus.publish_nowait(checksummer.annotate([snapshot]))
    sub = FakeSubscriber()
    joined = await hub.attach(sub, encoder, BOOK, View(), None)
    bus.publish_nowait(checksummer.annotate([BookDelta(MARKET.id, ((9050, 500),), (), 1)]))
    hub.go_live(sub, joined, encoder)
    frames = sub.frames()
    assert [(f["type"], f["seq"]) for f in frames] == [("Snapshot", 1), ("Update", 2)]


async def test_hub_overflow_then_reset_snapshot() -> None:
    """A stalled STATE subscriber is conflated to one reset snapshot once it drains."""
    bus, hub, encoder, checksummer = setup()
    bus.publish_nowait(
        checksummer.annotate([BookSnapshot(MARKET.id, ((9000, 1000),), ((9100, 1000),), 0)])
    )
    sub = FakeSubscriber(budget=4096)
    await join(hub, sub, encoder, BOOK)
    for n in range(200):
        bus.publish_nowait(checksummer.annotate([BookDelta(MARKET.id, ((8000 + n, 1000),), (), n)]))
    assert sub.outbox.pending_bytes <= 4096
    assert sub.dropped > 0
    sub.outbox.drain()
    for resync in sub.outbox.take_resyncs():
        hub.resync(sub, resync)
    frames = sub.frames()
    assert frames[-1]["type"] == "Snapshot" and frames[-1]["reset"] is True
    assert frames[-1]["seq"] == 201
    assert len(frames[-1]["data"]["bids"]) == 201


async def test_hub_resume_across_a_book_snapshot_resets() -> None:
    """A replay range that contains a full book snapshot becomes a reset snapshot."""
    bus, hub, encoder, checksummer = setup()
    first = BookSnapshot(MARKET.id, ((9000, 1000),), ((9100, 1000),), 0)
    bus.publish_nowait(checksummer.annotate([first]))
    second = BookSnapshot(MARKET.id, ((9500, 1000),), ((9600, 1000),), 1)
    bus.publish_nowait(checksummer.annotate([second, BookDelta(MARKET.id, ((9400, 5),), (), 2)]))
    sub = FakeSubscriber()
    await join(hub, sub, encoder, BOOK, resume=StreamPosition(1, "e1"))
    (frame,) = sub.frames()
    assert frame["type"] == "Snapshot" and frame["reset"] is True and frame["seq"] == 3
    assert frame["data"]["bids"] == [["95.00", "1.000"], ["94.00", "0.005"]]


async def test_hub_event_overflow_gap_names_the_epoch() -> None:
    """A stalled EVENT subscriber gets a Gap with the stream's epoch and the dropped range."""
    bus, hub, encoder, _ = setup()
    sub = FakeSubscriber(budget=4096)
    await join(hub, sub, encoder, TRADES)
    for n in range(1, 201):
        bus.publish_nowait([trade(n)])
    queued = sub.frames()
    for resync in sub.outbox.take_resyncs():
        hub.resync(sub, resync)
    bus.publish_nowait([trade(201)])
    after = sub.frames()
    gap = after[0]
    assert gap["type"] == "Gap" and gap["epoch"] == "e1" and gap["reason"] == "overflow"
    assert gap["from"] == queued[-1]["seq"] + 1 and gap["to"] == 200
    assert after[1]["seq"] == 201


async def test_hub_turns_a_bus_hole_into_a_gap() -> None:
    """Seqs a shared bus never delivered (lost past its history) reach EVENT subscribers as a Gap
    (reason history) before the next event: never a silent jump."""
    bus, hub, encoder, _ = setup()
    sub = FakeSubscriber()
    await join(hub, sub, encoder, TRADES)
    bus.publish_nowait([trade(1)])
    assert [f["seq"] for f in sub.frames()] == [1]
    hub.on_envelopes([Envelope(str(TRADES), 5, "e1", trade(5), 0)])
    gap, update = sub.frames()
    assert gap == {
        "type": "Gap", "stream": str(TRADES), "epoch": "e1", "from": 2, "to": 4,
        "reason": "history",
    }  # fmt: skip
    assert update["type"] == "Update" and update["seq"] == 5
    hub.on_envelopes([Envelope(str(TRADES), 6, "e1", trade(6), 0)])
    assert [f["seq"] for f in sub.frames()] == [6]  # dense again: no further Gap


class RunCounter(NativeEncoder):
    """A RunEncoder: one frame per run of one stream's consecutive events in a bus batch."""

    def run_frame(self, stream: str, seq: int, events: Sequence[Event]) -> bytes:
        return json.dumps({"stream": stream, "seq": seq, "run": len(events)}).encode()


async def test_hub_gives_a_run_encoder_each_streams_run_of_a_batch() -> None:
    bus, hub, _, _ = setup()
    encoder, sub = RunCounter(catalog=CATALOG), FakeSubscriber()
    other = StreamKey.parse("trades:acme-bar-usd-spot")
    await join(hub, sub, encoder, TRADES)
    await join(hub, sub, encoder, other)
    sub.outbox.drain()
    bar = Trade(str(other.subject), "9", 1, 1, Side.BUY, 9)
    bus.publish_nowait([trade(1), trade(2), bar, trade(3)])
    assert sub.frames() == [
        {"stream": str(TRADES), "seq": 2, "run": 2},
        {"stream": str(other), "seq": 1, "run": 1},
        {"stream": str(TRADES), "seq": 3, "run": 1},
    ]
