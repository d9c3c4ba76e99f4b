#!/usr/bin/env python3
"""Replay throughput: how fast a recorded file goes through the replay source and the server.

1. decode: ``ReplaySource`` at ``speed=max`` into a sink that drops events (scan pass timed apart).
2. end to end: an in-process server replaying the file at ``speed=max,wait=N`` to one SDK client
   subscribed to every trades/book/quotes stream of the file, until the client has every event.

Usage::

    .venv/bin/python benchmarks/replay.py                       # the spot test fixture
    .venv/bin/python benchmarks/replay.py --path /data/btcusdt_20240808.gz

Everything runs on 127.0.0.1; the server stops at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tickcast.app.build import build_app
from tickcast.app.run import TickcastServer, uvicorn_config
from tickcast.client import Client, Snapshot, Update
from tickcast.clock import SystemClock
from tickcast.config import load
from tickcast.model import Event, stream_of
from tickcast.sources.replay import ReplaySource, parse_spec

FIXTURE = Path(__file__).parent.parent / "tests/fixtures/hftbacktest"
DEFAULT = FIXTURE / "binance-spot-btcusdt-20240808-head2500.gz"


async def decode(path: Path) -> dict[str, int]:
    started = time.perf_counter()
    source = ReplaySource(parse_spec(f"replay:{path},speed=max"), clock=SystemClock())
    scanned = time.perf_counter()
    counts: dict[str, int] = {}

    async def sink(events: Sequence[Event]) -> None:
        for event in events:
            stream = str(stream_of(event))
            counts[stream] = counts.get(stream, 0) + 1

    await source.run(sink)
    done = time.perf_counter()
    total = sum(counts.values())
    print(f"scan pass     {scanned - started:8.3f} s")
    print(
        f"decode pass   {done - scanned:8.3f} s  {total} events  {total / (done - scanned):,.0f}/s"
    )
    return counts


async def end_to_end(path: Path, counts: dict[str, int]) -> None:
    streams = sorted(counts)
    with tempfile.TemporaryDirectory() as data_dir:
        spec = f"replay:{path},speed=max,wait={len(streams)}"
        config = load(
            environ={},
            overrides={"sources": (spec,), "data_dir": data_dir, "log_level": "warning",
                       "outbox_bytes": 64 * 1024 * 1024},
        )  # fmt: skip
        app = build_app(config, announce=False)
        server = TickcastServer(uvicorn_config(config, app), node=app.state.node)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(1000):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        key = app.state.node.development_key
        got = dict.fromkeys(streams, 0)
        first = None
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
        async with Client(url, key) as client:
            async for message in client.subscribe(streams):
                if isinstance(message, Snapshot | Update) and message.seq > 0:
                    first = first or time.perf_counter()
                    got[message.stream] += 1
                    if all(got[s] >= counts[s] for s in streams):
                        break
        elapsed = time.perf_counter() - (first or time.perf_counter())
        total = sum(got.values())
        print(f"end to end    {elapsed:8.3f} s  {total} messages  {total / elapsed:,.0f}/s "
              f"(one SDK client, {len(streams)} streams)")  # fmt: skip
        server.should_exit = True
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    args = parser.parse_args()
    print(f"file          {args.path}")
    counts = asyncio.run(decode(args.path))
    asyncio.run(end_to_end(args.path, counts))


if __name__ == "__main__":
    main()
