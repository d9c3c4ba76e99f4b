"""The node's cost per published event with the Vega dialect mounted: without it, with it and no
subscriber, with subscribers (issue 20 point 5: derived state nobody needs should cost nothing).

    .venv/bin/python benchmarks/vega_ingest.py [--events 60000] [--batch 100]

In process, no sockets: a ``Node`` (memory bus, no history) and, per scenario, a ``VegaFeed``;
the simulator's own events (seed 1, stress pace) go through ``Node.publish_envelopes`` (book
checksums, sequencing, the pipeline: hub, recorder, derived state, Vega's stage) in batches,
and a block is closed every ``--block-events`` events. Subscribers are in-process objects that
take their lines (trades: everyone's and one party's; orders; accounts; depth updates; market
data; candles), so the cost is the node's and the dialect's, not a transport's. Prints µs of
CPU per event for each scenario (``--json``: one JSON line per scenario as well).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from typing import Any

from tickcast.clock import ManualClock
from tickcast.config import load
from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.server.node import Node
from tickcast.sources.simulator import Simulator

try:
    from tickcast.delivery.slices import Slices
except ImportError:  # pragma: no cover  (before slices existed: ``on_block`` is used)
    Slices = None  # type: ignore[assignment,misc]

try:  # this tree's layout, or the flat one before the dialect packages (to measure "before")
    from tickcast.dialects.vega.endpoint.feed import VegaFeed
    from tickcast.dialects.vega.wire.filters import Filter, StreamName
except ImportError:  # pragma: no cover
    from tickcast.dialects.vega.filters import (  # type: ignore[import-not-found,no-redef]
        Filter,
        StreamName,
    )
    from tickcast.server.vega_feed import VegaFeed  # type: ignore[import-not-found,no-redef]


class Reader:
    """A subscriber that reads everything it is given at once and counts the lines (the feed's
    batch protocol: ``slices``/``wake``; or ``on_block`` on trees before it)."""

    def __init__(self, selection: Filter) -> None:
        self.selection = self.key = selection
        self.joined = 0
        self.lines = 0
        self.outbox = Outbox(max_bytes=1 << 30, policy=OverflowPolicy.DISCONNECT)
        self.slices: Any = Slices(self.outbox, stream="vega") if Slices is not None else None

    def on_block(self, lines: list[bytes]) -> None:
        self.lines += len(lines)

    def wake(self) -> None:
        while len(self.outbox):
            self.lines += len(self.outbox.drain())
            self.slices.refill()

    def overflow(self) -> None:
        raise AssertionError("an in-process reader never falls behind")


def _events(count: int) -> list[Any]:
    clock = ManualClock()
    simulator = Simulator(seed=1, clock=clock, stress=True)
    events = list(simulator.initial_events())
    while len(events) < count:
        clock.advance(1_000_000)
        events += simulator.step(clock.time_ns())
    return events[:count]


def _readers(feed: Any) -> list[Reader]:
    party = next(iter(feed.state.parties))
    market = next(iter(feed.state.by_hex))
    selections = [
        Filter(StreamName.TRADES),
        Filter(StreamName.TRADES, parties=frozenset({party})),
        Filter(StreamName.ORDERS),
        Filter(StreamName.ACCOUNTS),
        Filter(StreamName.DEPTH_UPDATES),
        Filter(StreamName.MARKETS_DATA),
        Filter(StreamName.CANDLES, candle_id=f"trades_candle_1_minute_{market}"),
    ]
    return [Reader(selection) for selection in selections]


async def scenario(name: str, events: list[Any], args: argparse.Namespace) -> tuple[float, int]:
    """CPU seconds to publish ``events``, and the lines the subscribers took."""
    with tempfile.TemporaryDirectory() as data_dir:
        config = load(environ={}, overrides={"data_dir": data_dir, "sources": ("simulator",)})
        node = Node(config)
        feed = VegaFeed(node) if name != "no vega" else None
        readers = _readers(feed) if feed is not None and name == "subscribers" else []
        for reader in readers:
            assert feed is not None
            feed.subscribe(reader)
        started = time.process_time()
        for n, start in enumerate(range(0, len(events), args.batch)):
            await node.publish_envelopes(events[start : start + args.batch])
            if feed is not None and (n + 1) * args.batch % args.block_events == 0:
                feed.close_block()
        cpu = time.process_time() - started
        if feed is not None:
            await feed.stop()
        await node.store.close()
    return cpu, sum(reader.lines for reader in readers)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--block-events", type=int, default=3_000)
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario (best is kept)")
    parser.add_argument("--json", action="store_true", help="also one JSON line per scenario")
    args = parser.parse_args()
    events = _events(args.events)
    await scenario("no vega", events[: args.events // 4], args)  # warm-up
    for name in ("no vega", "no subscriber", "subscribers"):
        runs = [await scenario(name, events, args) for _ in range(args.reps)]
        cpu = min(cpu for cpu, _ in runs)
        lines = runs[0][1]
        print(f"{name:<14} {cpu / len(events) * 1e6:6.1f} µs/event  ({lines} lines delivered)")
        if args.json:
            us = round(cpu / len(events) * 1e6, 2)
            record = {"scenario": name, "us_per_event": us, "events": len(events), "lines": lines}
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
