"""The Bus contract (DESIGN §3), one suite for MemoryBus and RedisBus (a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from tickcast.bus import Bus, MemoryBus
from tickcast.bus.redis import RedisBus
from tickcast.model import BookDelta, BookSnapshot, Envelope, Event, Side, Trade

MARKET = "acme-foo-usd-spot"
OTHER = "acme-bar-usd-spot"
TRADES = f"trades:{MARKET}"
BOOK = f"book:{MARKET}"

BusFactory = Callable[..., Awaitable[Bus]]


def trade(n: int, market: str = MARKET) -> Trade:
    return Trade(market, f"t{n}", 100 + n, 1000, Side.BUY if n % 2 else Side.SELL, n)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    buses: list[Bus] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    async def make(history_size: int = 100) -> Bus:
        bus: Bus
        if request.param == "memory":
            bus = MemoryBus(history_size=history_size)
        else:
            bus = RedisBus([url], history_size=history_size)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def __call__(self, envelopes: Sequence[Envelope]) -> None:
        self.envelopes.extend(envelopes)

    def seqs(self, stream: str) -> list[int]:
        return [e.seq for e in self.envelopes if e.stream == stream]


async def test_seqs_are_dense_per_stream_from_one(make_bus: BusFactory) -> None:
    bus = await make_bus()
    first = await bus.publish([trade(1), trade(2, OTHER), trade(3)])
    second = await bus.publish([trade(4, OTHER), trade(5)])
    envelopes = first + second
    assert [(e.stream, e.seq) for e in envelopes] == [
        (TRADES, 1),
        (f"trades:{OTHER}", 1),
        (TRADES, 2),
        (f"trades:{OTHER}", 2),
        (TRADES, 3),
    ]
    assert [e.event for e in envelopes] == [
        trade(1),
        trade(2, OTHER),
        trade(3),
        trade(4, OTHER),
        trade(5),
    ]
    position = await bus.position(TRADES)
    assert position.seq == 3
    assert {e.epoch for e in envelopes if e.stream == TRADES} == {position.epoch}
    assert bus.streams() == sorted([TRADES, f"trades:{OTHER}"])


async def test_listeners_get_every_envelope_in_publish_order(make_bus: BusFactory) -> None:
    bus = await make_bus()
    recorder = Recorder()
    bus.listen(recorder)
    published: list[Envelope] = []
    for n in range(1, 21):
        published += await bus.publish([trade(n), trade(n, OTHER)])
    await until(lambda: len(recorder.envelopes) == 40)
    assert recorder.envelopes == published
    assert recorder.seqs(TRADES) == list(range(1, 21))


async def test_a_removed_listener_gets_nothing_more(make_bus: BusFactory) -> None:
    bus = await make_bus()
    kept, removed = Recorder(), Recorder()
    bus.listen(kept)
    remove = bus.listen(removed)
    await bus.publish([trade(1)])
    await until(lambda: len(removed.envelopes) == 1)
    remove()
    await bus.publish([trade(2)])
    await until(lambda: len(kept.envelopes) == 2)
    assert removed.seqs(TRADES) == [1]


async def test_concurrent_publishes_never_share_a_seq(make_bus: BusFactory) -> None:
    bus = await make_bus()
    results = await asyncio.gather(*(bus.publish([trade(n), trade(n)]) for n in range(50)))
    seqs = sorted(e.seq for batch in results for e in batch)
    assert seqs == list(range(1, 101))
    for batch in results:
        assert batch[1].seq == batch[0].seq + 1  # one call's events stay together
    assert (await bus.position(TRADES)).seq == 100


async def test_history_is_bounded_oldest_first(make_bus: BusFactory) -> None:
    bus = await make_bus(history_size=5)
    for n in range(1, 13):
        await bus.publish([trade(n)])
    history = await bus.history(TRADES)
    epoch = (await bus.position(TRADES)).epoch
    assert [e.seq for e in history] == [8, 9, 10, 11, 12]
    assert [e.event for e in history] == [trade(n) for n in range(8, 13)]
    assert {e.epoch for e in history} == {epoch}
    assert await bus.history(f"trades:{OTHER}") == []


async def test_an_unknown_stream_has_seq_zero_and_keeps_its_epoch(make_bus: BusFactory) -> None:
    bus = await make_bus()
    before = await bus.position(TRADES)
    assert before.seq == 0
    assert before.epoch
    assert await bus.position(TRADES) == before
    [envelope] = await bus.publish([trade(1)])
    assert (envelope.seq, envelope.epoch) == (1, before.epoch)


async def test_book_events_round_trip_through_history(make_bus: BusFactory) -> None:
    bus = await make_bus()
    events: list[Event] = [
        BookSnapshot(MARKET, ((101, 5), (100, 7)), ((102, 3),), 1, checksum=123),
        BookDelta(MARKET, ((101, 0),), ((103, 2),), 2, checksum=456),
    ]
    await bus.publish(events)
    assert [e.event for e in await bus.history(BOOK)] == events
