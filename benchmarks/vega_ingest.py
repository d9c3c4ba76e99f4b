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

``--interleave``: the scenarios alternate within each round (no Vega, no subscriber, ...), so
a noisy machine moves both alike; prints each scenario's best and the median of the per-round
differences. ``--stages``: Vega's derived-state stages alone, with nobody subscribed, on the
batches the node's pipeline gets (captured once): registered one by one (``Derived.register``,
as before ``endpoint/derive.py``) against the feed's registration, alternating; µs per event.

    .venv/bin/python benchmarks/vega_ingest.py --interleave --reps 5
    .venv/bin/python benchmarks/vega_ingest.py --stages --reps 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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


async def interleaved(events: list[Any], args: argparse.Namespace) -> None:
    """No Vega and Vega with no subscriber, alternating, ``--reps`` rounds."""
    names = ("no vega", "no subscriber")
    runs: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.reps):
        for name in names:
            cpu, _ = await scenario(name, events, args)
            runs[name].append(cpu / len(events) * 1e6)
    for name in names:
        print(f"{name:<14} {min(runs[name]):6.2f} µs/event best of {args.reps}")
    deltas = sorted(b - a for a, b in zip(runs[names[0]], runs[names[1]], strict=True))
    print(f"Vega's share   {statistics.median(deltas):+6.2f} µs/event (median of the rounds)")


async def stages(events: list[Any], args: argparse.Namespace) -> None:
    """Vega's derived stages alone, nobody subscribed: one by one against the feed's way (each
    run on fresh state; the seed stage, the same in both, left out)."""
    from tickcast.dialects.vega.endpoint.feed import simulated_parties
    from tickcast.dialects.vega.wire.candles import INTERVAL_SECONDS
    from tickcast.state.derived import Derived
    from tickcast.state.keeper import StateKeeper
    from tickcast.state.pipeline import Pipeline, Step

    batches: list[list[Any]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        config = load(environ={}, overrides={"data_dir": data_dir, "sources": ("simulator",)})
        node = Node(config)
        node.pipeline.add(Step.OBSERVE, "capture", lambda batch: batches.append(list(batch)))
        for start in range(0, len(events), args.batch):
            await node.publish_envelopes(events[start : start + args.batch])
        markets = {market.id: market for market in node.catalog}
        parties = simulated_parties(node)
        await node.store.close()
    try:
        from tickcast.dialects.vega.endpoint import derive
    except ImportError:  # pragma: no cover  (before endpoint/derive.py)
        derive = None  # type: ignore[assignment]

    ways: dict[str, Any] = {"one by one": lambda pipeline, derived: derived.register(pipeline)}
    if derive is not None:
        ways["the feed's"] = lambda pipeline, derived: derive.register(pipeline, derived, None)
    runs: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.reps):
        for name, register in ways.items():
            derived = Derived(StateKeeper(), dict(markets), parties, INTERVAL_SECONDS)
            pipeline = Pipeline()
            register(pipeline, derived)
            started = time.process_time()
            for batch in batches:
                pipeline.on_envelopes(batch)
            runs[name].append((time.process_time() - started) / len(events) * 1e6)
    for name, values in runs.items():
        print(f"stages, {name:<11} {min(values):6.3f} µs/event best of {args.reps}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--block-events", type=int, default=3_000)
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario (best is kept)")
    parser.add_argument("--json", action="store_true", help="also one JSON line per scenario")
    parser.add_argument("--interleave", action="store_true", help="alternate the scenarios")
    parser.add_argument("--stages", action="store_true", help="Vega's derived stages alone")
    args = parser.parse_args()
    events = _events(args.events)
    if args.stages:
        await stages(events, args)
        return
    if args.interleave:
        await scenario("no vega", events[: args.events // 4], args)  # warm-up
        await interleaved(events, args)
        return
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
