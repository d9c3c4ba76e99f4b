"""Resume on /api/v1/ws: replay within history, reset snapshot or gap beyond it."""

from __future__ import annotations

import json

from tests.integration.wire import MARKET, publish, recv, recv_until, trade
from websockets.asyncio.client import connect

TRADES = f"trades:{MARKET}"
BOOK = f"book:{MARKET}"


def book_delta(n: int) -> dict[str, object]:
    return {
        "type": "book_delta",
        "market": MARKET,
        "bids": [[f"{90 + n % 5}.00", f"{n}.000"]],
        "asks": [[f"{110 + n % 5}.00", "1.000"]],
    }


async def test_resume_within_history_replays_without_gap_or_duplicate(start_server) -> None:
    """A client that reconnects with (epoch, seq) gets exactly the events it missed."""
    server = await start_server(sources="none", history_size=100)
    key = await server.key("pro")
    assert (
        await publish(server.http, server.admin_key, [trade(n) for n in range(1, 6)])
    ).is_success
    async with connect(
        f"{server.ws}?streams={TRADES}", additional_headers={"X-API-Key": key}
    ) as ws:
        subscribed = await recv(ws)
        assert subscribed["type"] == "Subscribed"
        position = subscribed["streams"][0]
        assert position["seq"] == 5
        await publish(server.http, server.admin_key, [trade(6), trade(7)])
        seqs = [(await recv(ws))["seq"] for _ in range(2)]
        assert seqs == [6, 7]
    await publish(server.http, server.admin_key, [trade(n) for n in range(8, 13)])
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        resume = {TRADES: {"epoch": position["epoch"], "seq": 7}}
        await ws.send(
            json.dumps({"type": "Subscribe", "id": 1, "streams": [TRADES], "from": resume})
        )
        assert (await recv(ws))["type"] == "Subscribed"
        replayed = [await recv(ws) for _ in range(5)]
        assert [m["seq"] for m in replayed] == [8, 9, 10, 11, 12]
        assert [m["data"]["id"] for m in replayed] == ["t8", "t9", "t10", "t11", "t12"]
        await publish(server.http, server.admin_key, [trade(13)])
        live = await recv(ws)
        assert (live["type"], live["seq"]) == ("Update", 13)


async def test_resume_beyond_history_gives_gap_for_events_and_reset_for_books(start_server) -> None:
    """Past the history window (and no durable history: with it, the store replays them,
    tests/integration/test_native_time_travel.py): trades get a Gap naming the lost range,
    books a reset Snapshot."""
    server = await start_server(sources="none", history_size=5, history="off")
    key = await server.key("pro")
    snapshot = {
        "type": "book_snapshot",
        "market": MARKET,
        "bids": [["99.00", "1.000"]],
        "asks": [["101.00", "1.000"]],
    }
    await publish(server.http, server.admin_key, [snapshot, trade(1), trade(2)])
    async with connect(
        f"{server.ws}?streams={TRADES},{BOOK}", additional_headers={"X-API-Key": key}
    ) as ws:
        subscribed = await recv(ws)
        positions = {s["stream"]: s for s in subscribed["streams"]}
        first_book = await recv(ws)
        assert first_book["type"] == "Snapshot" and first_book["seq"] == 1
    events = [trade(n) for n in range(3, 23)] + [book_delta(n) for n in range(1, 21)]
    await publish(server.http, server.admin_key, events)
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        resume = {stream: {"epoch": p["epoch"], "seq": p["seq"]} for stream, p in positions.items()}
        await ws.send(
            json.dumps({"type": "Subscribe", "id": 2, "streams": [TRADES, BOOK], "from": resume})
        )
        assert (await recv(ws))["type"] == "Subscribed"
        messages = [await recv(ws) for _ in range(7)]
    gap = next(m for m in messages if m["type"] == "Gap")
    assert (gap["stream"], gap["from"], gap["to"], gap["reason"]) == (TRADES, 3, 17, "history")
    replay = [m["seq"] for m in messages if m["type"] == "Update" and m["stream"] == TRADES]
    assert replay == [18, 19, 20, 21, 22]
    reset = next(m for m in messages if m["type"] == "Snapshot")
    assert reset["stream"] == BOOK and reset.get("reset") is True and reset["seq"] == 21
    assert reset["data"]["bids"][0] == ["99.00", "1.000"]
    assert ["94.00", "19.000"] in reset["data"]["bids"]


async def test_resume_from_another_epoch_reports_epoch_gap(start_server) -> None:
    """A position from a previous server life (other epoch) is never silently continued."""
    server = await start_server(sources="none")
    key = await server.key("pro")
    await publish(server.http, server.admin_key, [trade(1), trade(2)])
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        resume = {TRADES: {"epoch": "old-epoch", "seq": 40}}
        await ws.send(
            json.dumps({"type": "Subscribe", "id": 3, "streams": [TRADES], "from": resume})
        )
        gap, before = await recv_until(ws, lambda m: m["type"] == "Gap")
        assert before[0]["type"] == "Subscribed"
        assert gap["reason"] == "epoch"
        replay = [await recv(ws) for _ in range(2)]
        assert [m["seq"] for m in replay] == [1, 2]
