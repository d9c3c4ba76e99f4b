#!/usr/bin/env python3
"""Connector throughput: a Binance capture through the fake venue into one node, 100 subscribers.

1. feed pass: ``BinanceFeed`` alone (parse, sequence checks, book sync) plus the node's book
   checksummer over every frame of the capture, no I/O: venue messages per CPU second.
2. end to end: the fake venue (tests/connectors/fake_venue.py) in a child process replays the
   capture at maximum speed, restamping the venue times ``E``/``T`` with the wall clock; the node
   (this process) runs the ``binance-usdm`` connector against it; N native subscribers in another
   child process take ``trades``, ``book`` and ``quotes`` of the market. Reported: venue messages
   per second (wall) and per CPU second of the node process (connector, bus, hub and fan-out
   together), events published per second, frames delivered, and lag = connector receive time -
   restamped venue time (p50/p99; at maximum speed this is mostly the backlog in the socket).

Usage::

    .venv/bin/python benchmarks/connectors.py                    # the USD-M test fixture
    .venv/bin/python benchmarks/connectors.py \
        --path ../shared/data/real/hftbacktest-captures/binance-usdm/btcusdt_20240808.gz

Everything runs on 127.0.0.1; every process stops at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake venue lives with the tests

from tests.connectors.binance_script import BinanceScript  # noqa: E402
from tests.connectors.fake_venue import FakeVenue  # noqa: E402

from tickcast.app.build import build_app  # noqa: E402
from tickcast.app.run import TickcastServer, uvicorn_config  # noqa: E402
from tickcast.config import load  # noqa: E402
from tickcast.model import MarketCatalog  # noqa: E402
from tickcast.sources.connectors.binance import BinanceFeed  # noqa: E402
from tickcast.sources.connectors.binance_info import USDM, instruments, select  # noqa: E402
from tickcast.sources.connectors.health import ConnectorHealth  # noqa: E402
from tickcast.sources.connectors.protocol import Publish, Resynced  # noqa: E402
from tickcast.sources.connectors.runner import ConnectorSource  # noqa: E402
from tickcast.state import BookChecksummer  # noqa: E402

DEFAULT = ROOT / "tests/fixtures/hftbacktest/binance-usdm-btcusdt-20240808-head1500.gz"
INFO = ROOT / "tests/fixtures/connectors/binance-usdm-exchange-info.json"
MARKET = "binance-BTCUSDT-future"
_STAMP = re.compile(r'"([ET])":\d{13}')


def feed_pass(path: Path) -> None:
    script = BinanceScript([path], INFO, futures=True)
    listed = instruments(USDM, INFO.read_bytes())
    chosen = select(USDM, listed, ["BTCUSDT"])
    feed = BinanceFeed(USDM, chosen)
    checksummer = BookChecksummer(catalog=MarketCatalog([chosen[0].market]))
    snapshot = script.symbols["BTCUSDT"].snapshot
    assert snapshot is not None
    feed.connected()
    events = resyncs = 0
    started, cpu = time.perf_counter(), time.process_time()
    for index, (_, frame) in enumerate(script.frames):
        commands = list(feed.receive(frame, index))
        if index == script.symbols["BTCUSDT"].snapshot_at:
            commands += feed.rest_snapshot("BTCUSDT", snapshot.encode(), index)
        for command in commands:
            if isinstance(command, Publish):
                events += len(checksummer.annotate(command.events))
            elif isinstance(command, Resynced):
                resyncs += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    n = len(script.frames)
    print(f"feed pass     {n} venue messages in {wall:.3f} s: {n / cpu:,.0f} msgs per CPU s, "
          f"{events} events checksummed, {resyncs} book breaks")  # fmt: skip


class RecordingHealth(ConnectorHealth):
    """Keeps every lag sample (the histogram's buckets are too coarse for p50/p99)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.samples: list[float] = []

    def lag(self, recv_ns: int, venue_ns: int) -> None:
        super().lag(recv_ns, venue_ns)
        self.samples.append((recv_ns - venue_ns) / 1e6)


def restamp(frame: str) -> str:
    now = str(time.time_ns() // 1_000_000)
    return _STAMP.sub(lambda m: f'"{m.group(1)}":{now}', frame)


async def venue_role(path: Path) -> None:
    script = BinanceScript([path], INFO, futures=True)
    venue = FakeVenue(script.frames, script, speed=None, rewrite=restamp)
    await venue.start()
    print(json.dumps({"port": venue.port, "frames": len(script.frames)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    venue.release()
    await venue.done.wait()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    await venue.stop()


async def subscribers_role(url: str, n: int) -> None:
    from websockets.asyncio.client import connect

    counts = [0] * n
    streams = ",".join(f"{kind}:{MARKET}" for kind in ("trades", "book", "quotes"))

    async def one(index: int) -> None:
        async with connect(f"{url}&streams={streams}", max_size=2**24) as ws:
            async for _ in ws:
                counts[index] += 1

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(1.0)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"frames": sum(counts)}), flush=True)
    for task in tasks:
        task.cancel()


async def child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await process.stdout.readline()).decode().strip()


def send(process: asyncio.subprocess.Process, text: str) -> None:
    assert process.stdin is not None
    process.stdin.write(f"{text}\n".encode())


async def end_to_end(path: Path, n: int) -> None:
    venue = await child("--role", "venue", "--path", str(path))
    info: dict[str, Any] = json.loads(await line(venue))
    url = f"127.0.0.1:{info['port']}"
    with tempfile.TemporaryDirectory() as data_dir:
        spec = f"binance-usdm:BTCUSDT,ws=ws://{url}/stream,rest=http://{url}"
        config = load(environ={}, overrides={
            "sources": (spec,), "data_dir": data_dir, "log_level": "warning",
            "outbox_bytes": 64 * 1024 * 1024,
        })  # fmt: skip
        app = build_app(config, announce=False)
        node = app.state.node
        source = node.sources[0]
        assert isinstance(source, ConnectorSource)
        health = source.health = RecordingHealth(source.health.name)
        server = TickcastServer(uvicorn_config(config, app), node=node)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        key = node.development_key
        ws = f"ws://127.0.0.1:{sock.getsockname()[1]}/api/v1/ws?api_key={key}"
        subscribers = await child("--role", "subscribers", "--url", ws, "--n", str(n))
        assert await line(subscribers) == "ready"
        events0 = node.metrics.events._value.get()
        send(venue, "go")
        started, cpu = time.perf_counter(), time.process_time()
        while health.messages < info["frames"]:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.005)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        events = node.metrics.events._value.get() - events0
        await asyncio.sleep(1.0)  # let the fan-out drain
        send(subscribers, "stop")
        delivered = json.loads(await line(subscribers))["frames"]
        send(venue, "stop")
        await asyncio.gather(subscribers.wait(), venue.wait())
        server.should_exit = True
        await task
    frames = info["frames"]
    lags = sorted(health.samples)
    p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
    print(f"end to end    {frames} venue messages in {wall:.3f} s: {frames / wall:,.0f}/s wall, "
          f"{frames / cpu:,.0f} per node CPU s; {events / wall:,.0f} events/s published; "
          f"{delivered} frames to {n} subscribers; lag p50 {p50:.1f} ms p99 {p99:.1f} ms; "
          f"resyncs {health.resyncs}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--role", choices=("venue", "subscribers"))
    parser.add_argument("--url")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    if args.role == "venue":
        asyncio.run(venue_role(args.path))
        return
    if args.role == "subscribers":
        asyncio.run(subscribers_role(args.url, args.n))
        return
    print(f"file          {args.path}")
    feed_pass(args.path)
    asyncio.run(end_to_end(args.path, args.subscribers))


if __name__ == "__main__":
    main()
