"""Native time travel (issue 17) on keyed STATE streams (metrics, orders, positions) and on the
``party`` and ``depth`` views: the state as of T, the stored updates, then live; no gap, no
duplicate, ``prev`` chained over what the view shows."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.integration.test_native_time_travel import ClientBook, book_event
from tests.integration.wire import recv, recv_until
from websockets.asyncio.client import connect

from tickcast.client import Client, Snapshot, Update
from tickcast.model import (
    AssetMetric,
    Envelope,
    Event,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StreamKind,
    StreamPosition,
    Trade,
    stream_of,
)
from tickcast.model.markets import MarketKind
from tickcast.model.timefmt import rfc3339_ns
from tickcast.state import StateKeeper

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 4)
METRICS, ORDERS, POSITIONS = "metrics:foo", f"orders:{MARKET.id}", f"positions:{MARKET.id}"
TRADES, BOOK = f"trades:{MARKET.id}", f"book:{MARKET.id}"
DAY_NS = 86_400_000_000_000
T0 = (time.time_ns() // DAY_NS - 1) * DAY_NS
MS = 1_000_000
FINAL = (OrderStatus.FILLED, OrderStatus.CANCELLED)


def state_events(n: int) -> list[Event]:
    """Event ``n`` of each keyed stream: 4 metrics, orders that open and end, 3 parties."""
    at = T0 + n * MS
    status = FINAL[n % 2] if n % 5 == 4 else OrderStatus.ACTIVE
    party = ("alice", "bob", "carol")[n % 3]
    return [
        AssetMetric("foo", ("PriceUSD", "SplyCur", "CapMrktCurUSD", "HashRate")[n % 4], n, 2, at),
        Order(
            MARKET.id,
            f"o{n % 7}",
            party,
            Side.BUY,
            OrderType.LIMIT,
            100 + n,
            4,
            1 + n % 3,
            status,
            T0,
            at,
        ),  # fmt: skip
        Position(MARKET.id, party, n, 100, 0, n, 101, at),
    ]


async def publish_state(node: Any, first: int, last: int) -> None:
    for at in range(first, last, 25):
        await node.publish([e for n in range(at, min(at + 25, last)) for e in state_events(n)])


def expected_snapshot(node: Any, stream: str, last: int, epoch: str) -> Any:
    """The Snapshot data live subscribers had after event ``last``: a keeper fed the same
    events, encoded by the server's encoder."""
    keeper = StateKeeper()
    for n in range(last + 1):
        for event in state_events(n):
            if str(stream_of(event)) == stream:
                keeper.apply(Envelope(stream, n + 1, epoch, event, 0))
    snapshot = keeper.snapshot(stream)
    assert snapshot is not None
    kind = StreamKind(stream.partition(":")[0])
    frame = node.native.snapshot_frame(
        stream,
        kind,
        StreamPosition(snapshot.seq, snapshot.epoch),
        snapshot.events,
        checksum=None,
        reset=False,
    )
    return json.loads(frame)["data"]


async def test_keyed_state_streams_start_with_their_state_as_of_t(start_server) -> None:
    """metrics, orders and positions from T: a Snapshot equal to the live state after the
    last event at or before T (seq 121), then stored and live updates 122…330, dense."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish_state(node, 0, 300)
    streams = [METRICS, ORDERS, POSITIONS]
    at = rfc3339_ns(T0 + 120 * MS + MS // 2)  # event 120 (seq 121) is the last at or before
    request = {"type": "Subscribe", "id": 1, "streams": streams,
               "from": {stream: {"time": at} for stream in streams}}  # fmt: skip
    frames: dict[str, list[dict[str, Any]]] = {stream: [] for stream in streams}
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        await publish_state(node, 300, 330)  # live while the replay runs

        def done(message: dict[str, Any]) -> bool:
            assert message["type"] in ("Update", "Snapshot"), message
            frames[message["stream"]].append(message)
            return all(f and f[-1]["seq"] == 330 for f in frames.values())

        await recv_until(ws, done, timeout=20)
    epoch = (await node.bus.position(METRICS)).epoch
    for stream, got in frames.items():
        snapshot, *updates = got
        assert (snapshot["type"], snapshot["seq"], snapshot["epoch"]) == ("Snapshot", 121, epoch)
        assert snapshot["data"] == expected_snapshot(node, stream, 120, epoch), stream
        assert [m["seq"] for m in updates] == list(range(122, 331)), stream
        assert [m["prev"] for m in updates] == list(range(121, 330)), stream


async def test_party_view_from_t_shows_that_party_into_live(start_server) -> None:
    """A party view from T: the Snapshot lists only alice's orders and position, Updates are
    alice's only, and ``prev`` chains them from the Snapshot (or Subscribed) through the store,
    the bus and live, although the other parties' events are skipped at every hand-over."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish_state(node, 0, 300)
    trades = [
        Trade(MARKET.id, f"t{n}", 100, 1, Side.BUY, T0 + n * MS, "alice" if n % 4 == 0 else "bob")
        for n in range(300)
    ]
    await node.publish(trades)
    streams = [ORDERS, POSITIONS, TRADES]
    at = rfc3339_ns(T0 + 120 * MS + MS // 2)
    request = {"type": "Subscribe", "id": 1, "streams": streams, "party": "alice",
               "from": {stream: {"time": at} for stream in streams}}  # fmt: skip
    got: dict[str, list[dict[str, Any]]] = {stream: [] for stream in streams}
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        subscribed = await recv(ws)
        assert subscribed["type"] == "Subscribed"
        baseline = {s["stream"]: s["seq"] for s in subscribed["streams"]}
        await publish_state(node, 300, 330)
        await node.publish([Trade(MARKET.id, "last", 100, 1, Side.BUY, T0 + DAY_NS // 2, "alice")])

        def done(message: dict[str, Any]) -> bool:
            assert message["type"] in ("Update", "Snapshot"), message
            got[message["stream"]].append(message)
            return (
                got[TRADES][-1:] != []
                and got[TRADES][-1]["seq"] == 301
                and all(f and f[-1]["seq"] >= 328 for s, f in got.items() if s != TRADES)
            )

        await recv_until(ws, done, timeout=20)
    for stream in (ORDERS, POSITIONS):
        snapshot, *updates = got[stream]
        assert snapshot["seq"] == 121
        (entries,) = snapshot["data"].values()
        assert entries and all(entry["party"] == "alice" for entry in entries), snapshot
        assert [m["seq"] for m in updates] == [n + 1 for n in range(121, 330) if n % 3 == 0]
        assert [m["prev"] for m in updates] == [snapshot["seq"]] + [m["seq"] for m in updates[:-1]]
    alice = [n + 1 for n in range(121, 300) if n % 4 == 0] + [301]
    assert [m["seq"] for m in got[TRADES]] == alice
    chain = [m["prev"] for m in got[TRADES]]
    assert chain[0] <= baseline[TRADES] and chain[1:] == alice[:-1]


async def test_depth_view_from_t_follows_the_top_levels_into_live(start_server) -> None:
    """A depth-5 book from T: a Snapshot of the top 5 levels as of T, then only the changes of
    the top 5 with the view's checksum (the client's own 5-level book matches every frame),
    then the hub's reset Snapshot of the live book at that depth and live updates."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    for at in range(0, 400, 50):
        await node.publish([book_event(n) for n in range(at, at + 50)])
    at = rfc3339_ns(T0 + 150 * MS + MS // 2)
    request = {"type": "Subscribe", "id": 1, "streams": [BOOK], "depth": 5,
               "from": {BOOK: {"time": at}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        await node.publish([book_event(n) for n in range(400, 450)])
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 450 or m["type"] == "Gap")
    frames = [*seen, last]
    assert last["seq"] == 450 and all(m["type"] in ("Snapshot", "Update") for m in frames)
    book = ClientBook()
    for message in frames:
        assert len(message["data"]["bids"]) <= 5 and len(message["data"]["asks"]) <= 5
        book.apply(message)
    assert (frames[0]["type"], frames[0]["seq"]) == ("Snapshot", 151)
    assert len(frames[0]["data"]["bids"]) == 5
    resets = [m for m in frames[1:] if m["type"] == "Snapshot"]
    assert len(resets) == 1 and resets[0]["reset"] is True  # the hand-over to live
    seqs = [m["seq"] for m in frames]
    assert seqs == sorted(set(seqs))  # increasing: no duplicate
    for before, message in zip(frames, frames[1:], strict=False):
        if message["type"] == "Update":
            assert message["prev"] == before["seq"]


async def test_deep_resume_of_a_party_view_comes_from_the_store(start_server) -> None:
    """A party view resuming beyond the memory window gets that party's trades from the store,
    then the bus and live, with its ``prev`` chain, instead of a Gap."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    trades = [
        Trade(MARKET.id, f"t{n}", 100, 1, Side.BUY, T0 + n * MS, "alice" if n % 4 == 0 else "bob")
        for n in range(300)
    ]
    await node.publish(trades)
    epoch = (await node.bus.position(TRADES)).epoch
    request = {"type": "Subscribe", "id": 1, "streams": [TRADES], "party": "alice",
               "from": {TRADES: {"epoch": epoch, "seq": 20}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": server.admin_key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        await node.publish([Trade(MARKET.id, "last", 100, 1, Side.BUY, T0 + DAY_NS // 2, "alice")])
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 301)
    frames = [*seen, last]
    alice = [n + 1 for n in range(20, 300) if n % 4 == 0] + [301]
    assert [m["type"] for m in frames] == ["Update"] * len(alice)
    assert [m["seq"] for m in frames] == alice
    assert frames[0]["prev"] <= 20 and [m["prev"] for m in frames[1:]] == alice[:-1]


async def test_sdk_since_on_a_party_view_of_state_streams(start_server) -> None:
    """The SDK's ``subscribe(..., party=, since=)`` on orders and positions: a Snapshot as of
    ``since``, then that party's updates into live, with every ``prev`` checked by the SDK and
    no Gap."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish_state(node, 0, 300)
    since = datetime.fromtimestamp((T0 + 120 * MS + MS // 2) / 1e9, tz=UTC)
    seqs: dict[str, list[int]] = {ORDERS: [], POSITIONS: []}
    others: list[object] = []
    async with Client(server.ws, server.admin_key) as client, asyncio.timeout(20):
        subscription = client.subscribe([ORDERS, POSITIONS], party="alice", since=since)
        async for message in subscription:
            if isinstance(message, Snapshot | Update):
                seqs[message.stream].append(message.seq)
                if all(s[-1:] == [298] for s in seqs.values()):
                    await publish_state(node, 300, 310)  # live after the replay
                if all(s[-1:] == [310] for s in seqs.values()):
                    break
            else:
                others.append(message)
        assert client.stats.gaps == 0
    assert others == []
    alice = [121] + [n + 1 for n in range(121, 310) if n % 3 == 0]
    assert seqs[ORDERS] == alice and seqs[POSITIONS] == alice
