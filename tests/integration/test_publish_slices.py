"""A large publish does not hold the loop (issue 20 point 5): ``Node.publish_envelopes`` hands
the bus slices of ``PUBLISH_SLICE`` events, serving the loop between them; every event still gets
its dense seq, in order, and a subscriber receives each one once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.integration.wire import MARKET, publish, recv, trade
from websockets.asyncio.client import connect

from tickcast.model import Envelope, Side, Trade
from tickcast.server.node import PUBLISH_SLICE

STREAM = f"trades:{MARKET}"


async def test_a_large_publish_goes_in_slices_with_the_loop_served_between(
    start_server: Any,
) -> None:
    server = await start_server(sources="none")
    key = server.admin_key
    assert (await publish(server.http, key, [trade(0)])).status_code == 200  # the market, seq 1
    count = PUBLISH_SLICE * 2 + 34
    events = [
        Trade(MARKET, f"s{n}", 10_000 + n, 1_000, Side.BUY, 1_767_225_600_000_000_000 + n)
        for n in range(count)
    ]
    order: list[str] = []

    def on_bus(envelopes: Sequence[Envelope]) -> None:
        order.append(f"slice {len(envelopes)}")

    remove = server.node.bus.listen(on_bus)
    done = False

    async def probe() -> None:
        while not done:
            if not order or order[-1] != "loop":
                order.append("loop")
            await asyncio.sleep(0)

    headers = {"X-API-Key": key}
    async with connect(f"{server.ws}?streams={STREAM}", additional_headers=headers) as live:
        assert (await recv(live))["type"] == "Subscribed"
        task = asyncio.create_task(probe())
        await asyncio.sleep(0)
        envelopes = await server.node.publish_envelopes(events)
        done = True
        await task
        remove()
        assert [e.seq for e in envelopes] == list(range(2, count + 2))
        assert [e.event for e in envelopes] == events
        slices = [f"slice {PUBLISH_SLICE}", f"slice {PUBLISH_SLICE}", "slice 34"]
        assert [entry for entry in order if entry != "loop"] == slices
        assert order[order.index(slices[0]) + 1] == "loop"  # served between the slices
        assert order[order.index(slices[2]) - 1] == "loop"
        seqs = [(await recv(live))["seq"] for _ in range(count)]
        assert seqs == list(range(2, count + 2))
