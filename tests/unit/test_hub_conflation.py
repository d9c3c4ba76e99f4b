"""Delivery policies on the hub's shared channels: the Socket.IO feed's encoder, one-step joins
(``join_live``/``leave``) and per-stream conflation (``hub/conflation.py``), on a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.unit.delivery.test_channel import FakeSink
from tests.unit.test_hub import CATALOG
from tests.unit.test_hub_shared import SharedSubscriber

from tickcast.bus import MemoryBus
from tickcast.dialects.socketio_feed.wire.protocol import FeedEncoder
from tickcast.hub import Hub
from tickcast.model import FULL_VIEW, StreamKey, Ticker

BTC, ETH = StreamKey.parse("ticker:btc"), StreamKey.parse("ticker:eth")


class Clock:
    """``call_later`` on a fake clock: timers run when the test advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        entry = (self.now + delay, callback)
        self.timers.append(entry)
        return lambda: self.timers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [entry for entry in self.timers if entry[0] <= self.now]
        for entry in due:
            self.timers.remove(entry)
            entry[1]()


def ticker(asset: str, price: int) -> Ticker:
    return Ticker(asset, 2, price, price, price, price, 100, 0, 1_775_001_600 * 10**9)


def setup() -> tuple[MemoryBus, Hub, list[Callable[[], None]], Clock]:
    bus = MemoryBus(history_size=100, epoch="e1")
    scheduled: list[Callable[[], None]] = []
    clock = Clock()
    hub = Hub(bus=bus, catalog=CATALOG, schedule=scheduled.append, later=clock.call_later)
    return bus, hub, scheduled, clock


def run(scheduled: list[Callable[[], None]]) -> None:
    while scheduled:
        scheduled.pop(0)()


def prices(sub: SharedSubscriber) -> list[tuple[str, float]]:
    """``(symbol, price)`` of every price-update written to the subscriber's transport."""
    out = []
    for data in sub.sink.writes:
        while data:
            length, start = data[1], 2
            if length == 126:
                length, start = int.from_bytes(data[2:4], "big"), 4
            payload = data[start : start + length]
            assert data[0] == 0x81 and payload.startswith(b"42/api-ws,")
            event, update = json.loads(payload[len(b"42/api-ws,") :])
            assert event == "price-update"
            out.append((update["symbol"], update["price"]))
            data = data[start + length :]
    return out


def test_join_live_shares_one_batch_and_encodes_each_update_once() -> None:
    bus, hub, scheduled, _ = setup()
    encoder = FeedEncoder()
    subs = [SharedSubscriber(hub) for _ in range(3)]
    for sub in subs:
        hub.join_live(sub, encoder, [BTC, ETH], FULL_VIEW)
        sub.drain()  # empty outbox: promoted to direct
    assert all(hub.is_direct(sub) for sub in subs) and hub.channel_count() == 1
    bus.publish_nowait([ticker("btc", 100_00), ticker("eth", 20_00)])
    run(scheduled)
    assert hub.frames_encoded == 2
    assert all(prices(sub) == [("BTC", 100.0), ("ETH", 20.0)] for sub in subs)
    assert subs[0].sink.writes[0] is subs[1].sink.writes[0]  # one bytes object for all


def test_leave_moves_the_subscriber_once_and_stops_the_stream() -> None:
    bus, hub, scheduled, _ = setup()
    encoder = FeedEncoder()
    sub = SharedSubscriber(hub)
    hub.join_live(sub, encoder, [BTC, ETH], FULL_VIEW)
    sub.drain()
    hub.leave(sub, ["ticker:eth"])
    assert not hub.is_direct(sub)  # back on its own outbox until its writer promotes it
    sub.drain()
    bus.publish_nowait([ticker("btc", 101_00), ticker("eth", 21_00)])
    run(scheduled)
    assert prices(sub) == [("BTC", 101.0)]
    hub.leave(sub, ["ticker:btc"])
    assert hub.subscriber_count() == 0 and hub.channel_count() == 0


def test_conflation_sends_the_newest_update_per_stream_per_interval() -> None:
    bus, hub, scheduled, clock = setup()
    conflated, live = SharedSubscriber(hub), SharedSubscriber(hub, FakeSink())
    hub.join_live(conflated, FeedEncoder(conflation_ms=500), [BTC, ETH], FULL_VIEW)
    hub.join_live(live, FeedEncoder(), [BTC, ETH], FULL_VIEW)
    conflated.drain()
    live.drain()
    for price in (100_00, 101_00, 102_00):
        bus.publish_nowait([ticker("btc", price)])
    bus.publish_nowait([ticker("eth", 20_00)])
    run(scheduled)
    assert len(prices(live)) == 4
    assert prices(conflated) == [] and len(clock.timers) == 1  # one timer for the channel
    clock.advance(0.499)
    assert prices(conflated) == []
    clock.advance(0.001)
    assert prices(conflated) == [("BTC", 102.0), ("ETH", 20.0)]
    assert clock.timers == []  # nothing pending: no timer
    bus.publish_nowait([ticker("eth", 21_00)])
    clock.advance(0.5)
    assert prices(conflated)[-1] == ("ETH", 21.0) and len(prices(conflated)) == 3


def test_conflation_reaches_demoted_members_through_their_outbox() -> None:
    bus, hub, _, clock = setup()
    sub = SharedSubscriber(hub, FakeSink(stalled=True))
    hub.join_live(sub, FeedEncoder(conflation_ms=1000), [BTC], FULL_VIEW)
    for price in (100_00, 101_00):
        bus.publish_nowait([ticker("btc", price)])
    clock.advance(1.0)
    (frame,) = sub.outbox.drain()  # demoted (never promoted): the newest only, in its outbox
    assert b'"price":101.0' in frame
    assert sub.woken == 1


def test_a_channel_left_empty_stops_its_clock() -> None:
    bus, hub, _, clock = setup()
    sub = SharedSubscriber(hub)
    hub.join_live(sub, FeedEncoder(conflation_ms=1000), [BTC], FULL_VIEW)
    bus.publish_nowait([ticker("btc", 100_00)])
    assert len(clock.timers) == 1
    hub.leave(sub, ["ticker:btc"])
    assert clock.timers == [] and hub.channel_count() == 0
