"""The plan's ``history_depth`` limits replays from the history store (issue 17) as it limits
in-memory ones: a deep resume is cut like an in-memory one (a ``history`` Gap for the older
events, then the newest ``history_depth``; a book's reset snapshot), and a time travel whose
replay would exceed it is refused with ``history_depth``."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.test_native_time_travel import BOOK, MARKET, MS, T0, TRADES, publish
from tests.integration.wire import recv, recv_until
from websockets.asyncio.client import connect

from tickcast.model.timefmt import rfc3339_ns

DEPTH = 100


async def shallow_key(node: Any) -> str:
    """A key whose plan replays at most ``DEPTH`` events per stream."""
    await node.store.ensure_user("sam", "admin")
    await node.store.set_user_overrides("sam", {"history_depth": DEPTH})
    key, _ = await node.store.create_key(user="sam")
    return key


async def test_deep_resume_from_the_store_is_cut_at_the_plan_history_depth(
    start_server,
) -> None:
    """300 events, 50 in memory, resume from seq 20 with a depth of 100: a Gap 21…200 (reason
    history) then 201…300 from the store and the bus, ``prev`` chained from the Gap; the book
    gets the hub's reset snapshot. The same resume within the depth replays without a Gap."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 300)
    key = await shallow_key(node)
    epoch = (await node.bus.position(TRADES)).epoch
    at = {"epoch": epoch, "seq": 20}
    request = {"type": "Subscribe", "id": 1, "streams": [TRADES, BOOK],
               "from": {TRADES: at, BOOK: at}}  # fmt: skip
    got: dict[str, list[dict[str, Any]]] = {TRADES: [], BOOK: []}
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"

        def done(message: dict[str, Any]) -> bool:
            got[message["stream"]].append(message)
            return got[TRADES][-1:] != [] and got[TRADES][-1].get("seq") == 300 and got[BOOK] != []

        await recv_until(ws, done)
        gap, *updates = got[TRADES]
        assert (gap["type"], gap["reason"], gap["from"], gap["to"]) == ("Gap", "history", 21, 200)
        assert [m["seq"] for m in updates] == list(range(201, 301))
        assert [m["prev"] for m in updates] == list(range(200, 300))
        (book,) = got[BOOK]
        assert (book["type"], book["reset"], book["seq"]) == ("Snapshot", True, 300)
        within = {**request, "id": 2, "streams": [TRADES],
                  "from": {TRADES: {"epoch": epoch, "seq": 220}}}  # fmt: skip
        await ws.send(json.dumps(within))
        assert (await recv(ws))["type"] == "Subscribed"
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 300)
    assert [m["seq"] for m in [*seen, last]] == list(range(221, 301))


async def test_time_travel_beyond_the_plan_history_depth_is_refused(start_server) -> None:
    """From a time 250 events back (trades and book) the key with a depth of 100 is refused
    per stream with ``history_depth``; from 80 events back it replays into live."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    node.catalog.add(MARKET)
    await publish(node, 0, 300)
    key = await shallow_key(node)
    deep, shallow = rfc3339_ns(T0 + 50 * MS), rfc3339_ns(T0 + 220 * MS)
    request = {"type": "Subscribe", "id": 1, "streams": [TRADES, BOOK],
               "from": {TRADES: {"time": deep}, BOOK: {"time": deep}}}  # fmt: skip
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        refusals = [await recv(ws), await recv(ws)]
        assert [(m["type"], m["code"]) for m in refusals] == [("Error", "history_depth")] * 2
        assert "history_depth 100" in refusals[0]["message"]
        request = {"type": "Subscribe", "id": 2, "streams": [TRADES],
                   "from": {TRADES: {"time": shallow}}}  # fmt: skip
        await ws.send(json.dumps(request))
        assert (await recv(ws))["type"] == "Subscribed"
        last, seen = await recv_until(ws, lambda m: m.get("seq") == 300)
    assert [m["seq"] for m in [*seen, last]] == list(range(221, 301))
