"""Native time travel (issue 17): from a past instant, through the store, into live."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.integration.wire import recv, recv_until
from websockets.asyncio.client import connect

from tickcast.book.checksum import checksum_of_strings
from tickcast.client import Client, Snapshot, Update
from tickcast.model import BookDelta, BookSnapshot, Event, Market, Side, Trade
from tickcast.model.events import Quote, Ticker
from tickcast.model.markets import MarketKind
from tickcast.model.timefmt import rfc3339_ns

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 4)
TRADES, BOOK = f"trades:{MARKET.id}", f"book:{MARKET.id}"
DAY_NS = 86_400_000_000_000
T0 = (time.time_ns() // DAY_NS - 1) * DAY_NS
"""Yesterday 00:00 UTC: within every kind's default retention (older rows would expire)."""
MS = 1_000_000


def trade(n: int) -> Trade:
    return Trade(MARKET.id, f"t{n}", 10_000 + n % 7, 1 + n, Side.BUY, T0 + n * MS)


def book_event(n: int) -> Event:
    if n == 0:
        levels = tuple((10_000 - i, 5 + i) for i in range(20))
        asks = tuple((10_001 + i, 5 + i) for i in range(20))
        return BookSnapshot(MARKET.id, levels, asks, T0)
    price = 10_000 - n % 25
    return BookDelta(
        MARKET.id, ((price, 0 if n % 3 == 0 else n),), ((10_001 + n % 25, n),), T0 + n * MS
    )


async def publish(node: Any, first: int, last: int) -> None:
    for at in range(first, last, 50):
        stop = min(at + 50, last)
        await node.publish([e for n in range(at, stop) for e in (trade(n), book_event(n))])


class ClientBook:
    """The client's own book from frames, checked against every frame's checksum."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}

    def apply(self, message: dict[str, Any]) -> None:
        if message["type"] == "Snapshot":
            self.sides = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            for price, size in message["data"][side]:
                if Decimal(size) == 0:
                    self.sides[side].pop(price, None)
                else:
                    self.sides[side][price] = size
        bids = sorted(self.sides["bids"].items(), key=lambda level: -Decimal(level[0]))
        asks = sorted(self.sides["asks"].items(), key=lambda level: Decimal(level[0]))
        assert checksum_of_strings(bids, asks) == message["checksum"], message["seq"]


async def test_time_travel_from_the_store_into_live_without_gap_or_duplicate(
    start_server,
) -> None:
    """Trades from T replay from the store (the bus holds 50 events), then live ones published
    during the replay follow: dense seqs, no Gap. The book starts with the book as of T and
    every later frame's checksum matches the client's own book."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 400)
    time_at = T0 + 150 * MS + MS // 2  # trade 151 (seq 152) is the first at or after it
    request = {
        "type": "Subscribe", "id": 1, "streams": [TRADES, BOOK],
        "from": {TRADES: {"time": rfc3339_ns(time_at)}, BOOK: {"time": rfc3339_ns(time_at)}},
    }  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        subscribed = await recv(ws)
        assert subscribed["type"] == "Subscribed"
        assert [s["seq"] for s in subscribed["streams"]] == [151, 400]  # before the first replayed
        await publish(node, 400, 600)  # live while the replay runs
        frames: dict[str, list[dict[str, Any]]] = {TRADES: [], BOOK: []}

        def done(message: dict[str, Any]) -> bool:
            assert message["type"] in ("Update", "Snapshot"), message
            frames[message["stream"]].append(message)
            return all(f and f[-1]["seq"] == 600 for f in frames.values())

        await recv_until(ws, done, timeout=20)
    assert [m["seq"] for m in frames[TRADES]] == list(range(152, 601))
    assert [m["prev"] for m in frames[TRADES]] == list(range(151, 600))  # store, bus, live
    assert frames[TRADES][0]["data"]["id"] == "t151"
    snapshot, *updates = frames[BOOK]
    assert snapshot["type"] == "Snapshot" and snapshot["seq"] == 151  # book event 150, at T-½ms
    assert [m["seq"] for m in updates] == list(range(152, 601))
    assert [m["prev"] for m in updates] == list(range(151, 600))  # from the Snapshot's seq
    book = ClientBook()
    for message in frames[BOOK]:
        book.apply(message)


async def test_resume_beyond_the_memory_window_is_served_from_the_store(start_server) -> None:
    """A resume position the bus no longer holds replays from the store instead of a Gap."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 300)
    epoch = (await node.bus.position(TRADES)).epoch
    request = {"type": "Subscribe", "id": 2, "streams": [TRADES],
               "from": {TRADES: {"epoch": epoch, "seq": 20}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 300)
    assert [m.get("seq", m) for m in [*seen, last]] == list(range(21, 301))
    assert all(m["type"] == "Update" for m in seen)
    assert [m["prev"] for m in [*seen, last]] == list(range(20, 300))


def quote(n: int) -> Quote:
    return Quote(MARKET.id, 10_000 + n, 1 + n, 10_001 + n, 2 + n, T0 + n * MS)


def ticker(n: int) -> Ticker:
    return Ticker("foo", 2, 10_000 + n, 10_000, 10_000 + n, 9_000, n, 4, T0 + n * MS)


async def test_quotes_and_ticker_start_with_their_state_as_of_t(start_server) -> None:
    """A quotes and a ticker stream from T: a Snapshot of the last event at or before T (its
    own seq), then the stored events after it, then live ones: dense, no Gap, no duplicate."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    for at in range(0, 300, 50):
        await node.publish([e for n in range(at, at + 50) for e in (quote(n), ticker(n))])
    quotes, tick = f"quotes:{MARKET.id}", "ticker:foo"
    time_at = rfc3339_ns(T0 + 100 * MS + MS // 2)  # event 100 (seq 101) is the last before
    request = {"type": "Subscribe", "id": 1, "streams": [quotes, tick],
               "from": {quotes: {"time": time_at}, tick: {"time": time_at}}}  # fmt: skip
    frames: dict[str, list[dict[str, Any]]] = {quotes: [], tick: []}
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        await node.publish([e for n in range(300, 320) for e in (quote(n), ticker(n))])

        def done(message: dict[str, Any]) -> bool:
            assert message["type"] in ("Update", "Snapshot"), message
            frames[message["stream"]].append(message)
            return all(f and f[-1]["seq"] == 320 for f in frames.values())

        await recv_until(ws, done, timeout=20)
    for stream, frames_of in frames.items():
        snapshot, *updates = frames_of
        assert (snapshot["type"], snapshot["seq"]) == ("Snapshot", 101), stream
        assert [m["seq"] for m in updates] == list(range(102, 321)), stream
        assert [m["prev"] for m in updates] == list(range(101, 320)), stream
    assert frames[quotes][0]["data"]["bid_price"] == "101.00"
    assert frames[tick][0]["data"]["price"] == "101.00"


async def test_time_travel_refusals(start_server) -> None:
    """Without a history store time travel is refused per stream; a bad time is invalid."""
    server = await start_server(sources="none", history="off")
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 10)
    metrics = "metrics:foo"
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        since = {metrics: {"time": "2026-01-01T00:00:00Z"}}
        request = {"type": "Subscribe", "id": 3, "streams": [metrics], "from": since}
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        refused = await recv(ws)
        assert (refused["type"], refused["code"]) == ("Error", "history_unavailable")
        await ws.send(json.dumps({"type": "Unsubscribe", "id": 5, "streams": [metrics]}))
        assert (await recv(ws))["streams"] == []  # the refused stream was never subscribed
        await ws.send(json.dumps({"type": "Subscribe", "id": 4, "streams": [TRADES],
                                  "from": {TRADES: {"time": "yesterday"}}}))  # fmt: skip
        invalid = await recv(ws)
        assert invalid["type"] in ("InvalidMessage", "Error"), invalid
    await asyncio.sleep(0)


async def test_sdk_subscribe_since_replays_into_live(start_server) -> None:
    """``Client.subscribe(streams, since=datetime)``: the SDK gets dense trades from the first
    one at or after ``since`` into live, and its local book verifies every checksum."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 300)
    since = datetime.fromtimestamp((T0 + 100 * MS) / 1e9, tz=UTC)
    seqs: dict[str, list[int]] = {TRADES: [], BOOK: []}
    others: list[object] = []
    async with Client(server.ws, server.admin_key) as client, asyncio.timeout(20):
        subscription = client.subscribe([TRADES, BOOK], since=since)
        async for message in subscription:
            if isinstance(message, Update):
                assert message.prev == message.seq - 1  # checked by the SDK too (no Gap)
            if isinstance(message, Update | Snapshot):
                seqs[message.stream].append(message.seq)
                if seqs[TRADES][-1:] == [300] and seqs[BOOK][-1:] == [300]:
                    await publish(node, 300, 350)  # live after the replay
                if seqs[TRADES][-1:] == [350] and seqs[BOOK][-1:] == [350]:
                    break
            else:
                others.append(message)
        assert client.stats.gaps == 0
    assert others == []  # no Gap, Reset or ChecksumMismatch
    assert seqs[TRADES] == list(range(101, 351))  # trade 100 (seq 101) is at ``since``
    assert seqs[BOOK] == list(range(101, 351))  # the book as of ``since``, then updates


async def test_resume_from_a_previous_run_gets_the_rest_of_its_epoch(
    same_port_servers, tmp_path
) -> None:
    """After a restart (new epoch), a resume from the old epoch first receives what the old
    run published after that position (from the store), then the usual epoch Gap and the new
    epoch: nothing of either run is lost."""
    data_dir = str(tmp_path / "shared")
    first = await same_port_servers.start(data_dir=data_dir, sources="none")
    first.node.catalog.add(MARKET)
    await publish(first.node, 0, 100)
    old = (await first.node.bus.position(TRADES)).epoch
    await same_port_servers.stop()
    second = await same_port_servers.start(
        data_dir=data_dir, sources="none", store=f"sqlite:///{tmp_path / 'keys2.sqlite3'}"
    )
    second.node.catalog.add(MARKET)
    await publish(second.node, 0, 10)
    request = {"type": "Subscribe", "id": 1, "streams": [TRADES],
               "from": {TRADES: {"epoch": old, "seq": 60}}}  # fmt: skip
    async with connect(second.ws, additional_headers={"X-API-Key": second.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        last, seen = await recv_until(ws, lambda m: m.get("type") == "Update" and m["seq"] == 10)
    frames = [*seen, last]
    assert [m["seq"] for m in frames[:40]] == list(range(61, 101))  # the old epoch's rest
    gap = frames[40]
    assert (gap["type"], gap["reason"], gap["from"], gap["to"]) == ("Gap", "epoch", 1, 0)
    assert gap["epoch"] != old
    assert [m["seq"] for m in frames[41:]] == list(range(1, 11))
