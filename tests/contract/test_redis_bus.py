"""What RedisBus adds to the contract: epochs and state across restarts, holes, sharding, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.redis_server import RedisServer, free_port

from tickcast.bus.codec import encode_event
from tickcast.bus.redis import (
    PUBLISH_LUA,
    STREAMS_KEY,
    RedisBus,
    RedisShard,
    shard_of,
)
from tickcast.bus.state_ops import state_ops
from tickcast.errors import BusError
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Trade,
    stream_of,
)
from tickcast.state import StateKeeper

MARKET = "acme-foo-usd-spot"
TRADES = f"trades:{MARKET}"
BOOK = f"book:{MARKET}"
ORDERS = f"orders:{MARKET}"


def trade(n: int, market: str = MARKET) -> Trade:
    return Trade(market, f"t{n}", 100 + n, 1000, Side.BUY, n)


def order(n: int, status: OrderStatus) -> Order:
    return Order(MARKET, f"o{n}", "p" * 64, Side.BUY, OrderType.LIMIT, 100, 5, 5, status, 1, n)


async def until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_a_restarted_bus_keeps_epoch_history_and_state(redis_url: str) -> None:
    """A late gateway rebuilds every STATE stream exactly, and seqs continue in the same epoch."""
    ingest = RedisBus([redis_url], history_size=3, subscribe=False)
    await ingest.start()
    await ingest.publish([BookSnapshot(MARKET, ((100, 5), (99, 1)), ((101, 2),), 1)])
    for n in range(2, 8):  # more deltas than history holds: the state still comes back
        await ingest.publish([BookDelta(MARKET, ((100 - n, n),), ((101, 0), (101 + n, 1)), n)])
    await ingest.publish([order(1, OrderStatus.ACTIVE), order(2, OrderStatus.ACTIVE)])
    await ingest.publish([order(1, OrderStatus.FILLED), trade(1)])
    await ingest.stop()

    replay = RedisBus([redis_url], history_size=3, subscribe=False)
    await replay.start()

    gateway = RedisBus([redis_url], history_size=3)
    restored = StateKeeper()
    gateway.on_restore(restored.apply_all)
    await gateway.start()
    try:
        book = restored.snapshot(BOOK)
        assert book is not None and book.seq == 7
        [snapshot] = book.events
        assert isinstance(snapshot, BookSnapshot)
        assert snapshot.bids == (
            (100, 5),
            (99, 1),
            (98, 2),
            (97, 3),
            (96, 4),
            (95, 5),
            (94, 6),
            (93, 7),
        )
        assert snapshot.asks == ((103, 1), (104, 1), (105, 1), (106, 1), (107, 1), (108, 1))
        orders = restored.snapshot(ORDERS)
        assert orders is not None and orders.seq == 3
        assert [o.id for o in orders.events if isinstance(o, Order)] == ["o2"]
        position = await gateway.position(TRADES)
        received: list[Envelope] = []
        gateway.listen(received.extend)
        [envelope] = await replay.publish([trade(2)])
        assert (envelope.seq, envelope.epoch) == (2, position.epoch)
        await until(lambda: len(received) == 1)
        assert received[0].seq == 2
        assert sorted(gateway.streams()) == [BOOK, ORDERS, TRADES]
    finally:
        await gateway.stop()
        await replay.stop()


async def test_lost_history_means_a_new_epoch(redis_server: RedisServer, redis_url: str) -> None:
    bus = RedisBus([redis_url], history_size=10, subscribe=False)
    await bus.start()
    try:
        [first] = await bus.publish([trade(1)])
        redis_server.flush()  # e.g. Redis restarted without persistence
        [second] = await bus.publish([trade(2)])
        assert second.seq == 1
        assert second.epoch != first.epoch
        [third] = await bus.publish([trade(3)])
        assert (third.seq, third.epoch) == (2, second.epoch)
    finally:
        await bus.stop()


async def test_a_missed_message_is_filled_from_history(redis_url: str) -> None:
    """A pub/sub message that never arrives is replayed from history before the next one."""
    publisher = RedisBus([redis_url], history_size=10, subscribe=False)
    listener = RedisBus([redis_url], history_size=10)
    await publisher.start()
    await listener.start()
    received: list[Envelope] = []
    listener.listen(received.extend)
    try:
        await publisher.publish([trade(1)])
        await until(lambda: len(received) == 1)
        shard = listener.shards[0]
        records = [b"%s\t\t%s" % (TRADES.encode(), encode_event(trade(n))) for n in (2, 3)]
        # seq 2 and 3 published on a channel nobody listens to
        await shard.script(PUBLISH_LUA, [STREAMS_KEY], [10, "x", 0, "elsewhere", *records])
        await publisher.publish([trade(4)])
        await until(lambda: len(received) == 4)
        assert [e.seq for e in received] == [1, 2, 3, 4]
        assert [e.event for e in received] == [trade(n) for n in range(1, 5)]
        assert listener.holes == 0
    finally:
        await listener.stop()
        await publisher.stop()


async def test_streams_are_sharded_across_instances(tmp_path: Path, redis_url: str) -> None:
    second = RedisServer(tmp_path / "second")
    second.start()
    try:
        urls = [redis_url, second.url]
        markets = [f"acme-m{n}-usd-spot" for n in range(12)]
        placed = {shard_of(f"trades:{m}", 2) for m in markets}
        assert placed == {0, 1}
        publisher = RedisBus(urls, history_size=10, subscribe=False)
        listener = RedisBus(urls, history_size=10)
        await publisher.start()
        await listener.start()
        received: list[Envelope] = []
        listener.listen(received.extend)
        try:
            envelopes = await publisher.publish([trade(n, m) for n, m in enumerate(markets)])
            assert {e.seq for e in envelopes} == {1}
            await until(lambda: len(received) == len(markets))
            assert sorted(e.stream for e in received) == sorted(f"trades:{m}" for m in markets)
            for index, shard in enumerate(publisher.shards):
                epoch, entries = await shard.history(f"trades:{markets[0]}")
                held = shard_of(f"trades:{markets[0]}", 2) == index
                assert bool(entries) == held
        finally:
            await listener.stop()
            await publisher.stop()
    finally:
        second.stop()


async def test_redis_errors_become_bus_errors() -> None:
    bus = RedisBus([f"redis://127.0.0.1:{free_port()}/0"], history_size=10)
    with pytest.raises(BusError):
        await bus.start()
    with pytest.raises(BusError):
        await bus.publish([trade(1)])
    shard = RedisShard(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BusError):
        await shard.history(TRADES)
    await shard.close()
    await bus.stop()


async def test_a_dropped_subscription_resubscribes_and_catches_up(redis_url: str) -> None:
    """Redis drops the gateway's pub/sub connection (e.g. output buffer limit): it comes back and
    delivers what was published meanwhile from history, in order, once."""
    publisher = RedisBus([redis_url], history_size=100, subscribe=False)
    listener = RedisBus([redis_url], history_size=100)
    await publisher.start()
    await listener.start()
    received: list[Envelope] = []
    listener.listen(received.extend)
    try:
        await publisher.publish([trade(1)])
        await until(lambda: len(received) == 1)
        killed = await publisher.shards[0].client.client_kill_filter(_type="pubsub")
        assert killed >= 1
        for n in range(2, 7):
            await publisher.publish([trade(n)])
        await until(lambda: len(received) == 6)
        await publisher.publish([trade(7)])
        await until(lambda: len(received) == 7)
        assert [e.seq for e in received] == list(range(1, 8))
    finally:
        await listener.stop()
        await publisher.stop()


async def test_a_lost_stretch_past_history_resets_a_book_and_leaves_a_hole_in_trades(
    redis_url: str,
) -> None:
    """Messages lost and already out of history: a book jumps to its current state (a full
    BookSnapshot at the current seq); trades go on after the hole, which is counted."""
    publisher = RedisBus([redis_url], history_size=2, subscribe=False)
    listener = RedisBus([redis_url], history_size=2)
    await publisher.start()
    await listener.start()
    received: list[Envelope] = []
    listener.listen(received.extend)
    try:
        await publisher.publish([BookSnapshot(MARKET, ((100, 1),), ((101, 1),), 1), trade(1)])
        await until(lambda: len(received) == 2)
        lost = [BookDelta(MARKET, ((99 - n, 1),), (), n) for n in range(5)]
        lost += [trade(n) for n in range(2, 7)]
        records = [
            b"%s\t%s\t%s"
            % (
                str(stream_of(e)).encode(),
                ops.to_json() if (ops := state_ops(e)) else b"",
                encode_event(e),
            )
            for e in lost
        ]
        await listener.shards[0].script(PUBLISH_LUA, [STREAMS_KEY], [2, "x", 0, "void", *records])
        await publisher.publish([BookDelta(MARKET, ((100, 0),), (), 9), trade(7)])
        await until(lambda: [e.seq for e in received if e.stream == TRADES][-1:] == [7])
        await until(lambda: [e.seq for e in received if e.stream == BOOK][-1:] == [7])
        book = [e for e in received if e.stream == BOOK]
        assert [e.seq for e in book] == [1, 7]
        assert book[1].event == BookSnapshot(
            MARKET, ((99, 1), (98, 1), (97, 1), (96, 1), (95, 1)), ((101, 1),), 9
        )
        assert [e.seq for e in received if e.stream == TRADES] == [1, 6, 7]
        assert listener.holes == 2
    finally:
        await listener.stop()
        await publisher.stop()


async def test_garbage_on_the_channel_is_ignored(redis_url: str) -> None:
    """Anyone able to PUBLISH on tc:bus cannot stop a gateway: bad records are skipped."""
    publisher = RedisBus([redis_url], history_size=10, subscribe=False)
    listener = RedisBus([redis_url], history_size=10)
    await publisher.start()
    await listener.start()
    received: list[Envelope] = []
    listener.listen(received.extend)
    try:
        client = publisher.shards[0].client
        for garbage in (b"nonsense", b"a\tb\tc\td\te", b's\t1\te\t0\t["Pickle"]', b"\xff\t"):
            await client.publish("tc:bus", garbage)
        await publisher.publish([trade(1)])
        await until(lambda: len(received) == 1)
        assert received[0].event == trade(1)
    finally:
        await listener.stop()
        await publisher.stop()
