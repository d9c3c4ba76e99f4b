"""``prev`` on filtered views over the wire (issue 17 point 6): a party view and a depth view
get an unbroken ``prev`` chain live and across a resume, and the SDK finds no gap in it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.integration.test_native_time_travel import MARKET, T0
from tests.integration.wire import recv, recv_until
from tests.unit.test_hub_prev import assert_chain
from websockets.asyncio.client import connect

from tickcast.client import Client, Gap, Update
from tickcast.model import BookDelta, BookSnapshot, Side, StreamPosition, Trade

TRADES, BOOK = f"trades:{MARKET.id}", f"book:{MARKET.id}"
MS = 1_000_000


def trade(n: int) -> Trade:
    """Carol buys every third trade."""
    buyer = "carol" if n % 3 == 0 else "alice"
    return Trade(MARKET.id, f"t{n}", 10_000, 1 + n, Side.BUY, T0 + n * MS, buyer, "bob")


async def publish(node: Any, first: int, last: int) -> None:
    await node.publish([trade(n) for n in range(first, last + 1)])


async def test_party_view_prev_chain_live_and_across_a_resume(start_server) -> None:
    server = await start_server(sources="none", history_size=100)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 1, 10)
    headers = {"X-API-Key": server.admin_key}
    subscribe: dict[str, Any] = {
        "type": "Subscribe", "id": 1, "streams": [TRADES], "party": "carol"
    }  # fmt: skip
    async with connect(server.ws, additional_headers=headers) as ws:
        await ws.send(json.dumps(subscribe))
        subscribed = await recv(ws)
        epoch, baseline = subscribed["streams"][0]["epoch"], subscribed["streams"][0]["seq"]
        await publish(node, 11, 16)
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 15)
    live = [*seen, last]
    assert [m["seq"] for m in live] == [12, 15]
    assert_chain(live, baseline)
    assert live[1]["prev"] == 12
    await publish(node, 17, 31)  # seq 31 is not carol's: the resumed group starts after 30
    async with connect(server.ws, additional_headers=headers) as ws:
        await ws.send(json.dumps({**subscribe, "from": {TRADES: {"epoch": epoch, "seq": 15}}}))
        assert (await recv(ws))["type"] == "Subscribed"
        await recv_until(ws, lambda m: m.get("seq") == 30)
        await publish(node, 32, 33)
        resumed = await recv(ws)
    assert (resumed["seq"], resumed["prev"]) == (33, 30)  # the replay's chain, not the group's


async def test_depth_view_prev_chain_live_and_after_a_resume(start_server) -> None:
    server = await start_server(sources="none", history_size=100)
    node = server.node
    node.catalog.add(MARKET)
    bids = tuple((10_000 - i, 5) for i in range(5))
    asks = tuple((10_001 + i, 5) for i in range(5))
    await node.publish([BookSnapshot(MARKET.id, bids, asks, T0)])

    def delta(n: int) -> BookDelta:  # odd n: below the top, skipped by a depth-1 view
        price = 10_000 - 3 if n % 2 else 10_000
        return BookDelta(MARKET.id, ((price, 5 + n),), (), T0 + n * MS)

    headers = {"X-API-Key": server.admin_key}
    subscribe = {"type": "Subscribe", "id": 1, "streams": [BOOK], "depth": 1}
    frames: list[dict[str, Any]] = []
    async with connect(server.ws, additional_headers=headers) as ws:
        await ws.send(json.dumps(subscribe))
        subscribed = await recv(ws)
        epoch = subscribed["streams"][0]["epoch"]
        await node.publish([delta(n) for n in range(1, 11)])
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 11)
        frames = [*seen, last]
    updates = [m for m in frames if m["type"] == "Update"]
    assert [m["seq"] for m in updates] == [3, 5, 7, 9, 11]
    assert [m["prev"] for m in updates] == [1, 3, 5, 7, 9]
    assert_chain(frames, 0)
    await node.publish([delta(n) for n in range(11, 15)])
    async with connect(server.ws, additional_headers=headers) as ws:
        await ws.send(json.dumps({**subscribe, "from": {BOOK: {"epoch": epoch, "seq": 11}}}))
        assert (await recv(ws))["type"] == "Subscribed"
        snapshot = await recv(ws)
        assert snapshot["type"] == "Snapshot"  # a depth view resumes with a reset snapshot
        await node.publish([delta(n) for n in range(15, 19)])
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 19)
    after = [snapshot, *seen, last]
    assert [m["seq"] for m in after if m["type"] == "Update"] == [17, 19]
    assert_chain(after, 0)


async def test_the_sdk_checks_prev_on_a_party_view(start_server) -> None:
    server = await start_server(sources="none", history_size=100)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 1, 20)
    epoch = (await node.bus.position(TRADES)).epoch
    seqs: list[int] = []
    async with Client(server.ws, server.admin_key) as client, asyncio.timeout(10):
        resume = {TRADES: StreamPosition(5, epoch)}
        subscription = client.subscribe([TRADES], party="carol", resume=resume)
        async for message in subscription:
            assert not isinstance(message, Gap), message
            if isinstance(message, Update):
                assert message.prev is not None
                seqs.append(message.seq)
                if message.seq == 18:
                    break
        assert client.stats.gaps == 0
    assert seqs == [6, 9, 12, 15, 18]
