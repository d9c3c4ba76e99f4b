"""Vega dialect cost per block, without sockets: apply the simulator's events to ``VegaState``,
close blocks, and build the lines of many subscribers (bytes shared between equal filters).

    .venv/bin/python benchmarks/vega_blocks.py [--events-per-block 300] [--blocks 40]
        [--subscribers 250]

Subscribers: 40 % on every trade, 40 % on one party's trades (14 parties), 20 % on one party's
orders. Prints µs per applied event (with subscribers, and without: the cost every node pays
for keeping the dialect's state) and ms per block (flush + every subscriber's lines). As on a
node, the state keeper (the hub's ``Step.DELIVER`` work, paid with or without Vega) is fed
outside the timed part; timed are the ``Step.DERIVE`` stages of ``state/derived.py`` and the
dialect's ``Step.OBSERVE`` stage (``VegaState.collect``).
"""

from __future__ import annotations

import argparse
import time

from tickcast.clock import ManualClock
from tickcast.dialects.vega.endpoint.state import VegaState
from tickcast.dialects.vega.wire.candles import INTERVAL_SECONDS
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.model import Envelope, Market, stream_of
from tickcast.sources.simulator import Simulator
from tickcast.state.derived import Derived
from tickcast.state.keeper import StateKeeper


def _state(markets: list[Market], parties: list[str]) -> VegaState:
    catalog = {market.id: market for market in markets}
    derived = Derived(StateKeeper(), catalog, parties, INTERVAL_SECONDS)
    return VegaState((), (), derived=derived)


def _apply(state: VegaState, batch: list[Envelope], streams: frozenset[StreamName]) -> float:
    """Seconds spent in Vega's stages (the keeper is fed first, untimed, as the hub does)."""
    state.derived.keeper.apply_all(batch)
    started = time.perf_counter()
    for _, stage in state.derived.stages():
        stage(batch)
    state.collect(batch, collect=streams)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events-per-block", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--subscribers", type=int, default=250)
    args = parser.parse_args()

    clock = ManualClock()
    simulator = Simulator(seed=1, clock=clock)
    parties = [party.id for party in simulator.parties()]
    state = _state(simulator.markets(), parties)
    idle = _state(simulator.markets(), parties)
    """Fed the same events without subscribers (what every node pays when nobody listens)."""
    filters: list[Filter] = []
    for n in range(args.subscribers):
        party = frozenset({parties[n % len(parties)]})
        if n % 5 < 2:
            filters.append(Filter(StreamName.TRADES))
        elif n % 5 < 4:
            filters.append(Filter(StreamName.TRADES, parties=party))
        else:
            filters.append(Filter(StreamName.ORDERS, parties=party))
    streams = frozenset(selection.stream for selection in filters)
    seq = 0
    state.need(streams)
    initial = [
        Envelope(str(stream_of(e)), (seq := seq + 1), "e", e, 0) for e in simulator.initial_events()
    ]
    _apply(state, initial, streams)
    _apply(idle, initial, frozenset())
    state.flush(clock.time_ns(), collect=True)
    apply_s = block_s = idle_s = 0.0
    events = lines = nbytes = 0
    for _ in range(args.blocks):
        batch: list[Envelope] = []
        while len(batch) < args.events_per_block:
            clock.advance(1_000_000_000 // args.events_per_block)
            for event in simulator.step(clock.time_ns()):
                seq += 1
                batch.append(Envelope(str(stream_of(event)), seq, "e", event, 0))
        apply_s += _apply(state, batch, streams)
        events += len(batch)
        idle_s += _apply(idle, batch, frozenset())
        started = time.perf_counter()
        block = state.flush(clock.time_ns(), collect=streams)
        out = [block.lines(selection, 0) for selection in filters]
        block_s += time.perf_counter() - started
        lines += sum(len(x) for x in out)
        nbytes += sum(len(line) for x in out for line in x)
    print(f"events applied        {events}")
    print(f"apply                 {apply_s / events * 1e6:.1f} µs/event")
    print(f"apply, no subscribers {idle_s / events * 1e6:.1f} µs/event")
    print(
        f"block (flush + lines) {block_s / args.blocks * 1e3:.2f} ms for {len(filters)} subscribers"
    )
    print(f"lines per block       {lines / args.blocks:.0f} ({nbytes / args.blocks / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
