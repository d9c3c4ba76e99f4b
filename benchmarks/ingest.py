#!/usr/bin/env python3
"""Ingest throughput: events through the node's publish API into the bus, per CPU second.

Scenarios, all in one run (so before/after and the Redis ceiling share the machine's state):

1. micro: ``BookChecksummer.annotate`` per delta, ``Simulator.step`` per event (no I/O).
2. memory bus: ``Node.publish_envelopes`` (checksums, sequencing, history, hub fan-out) with
   trades and with book deltas, 0 and N native WebSocket subscribers (a child process subscribed
   to ``trades`` and ``book`` of the market): events per CPU second of the node process.
3. Redis bus: the same into an ingest node (``role=ingest``) on a redis-server this script
   starts on a random loopback port: events per second (wall) and per node CPU second.
4. the raw Redis PUBLISH ceiling on that same redis-server: unpipelined vs pipelined.

Usage::

    .venv/bin/python benchmarks/ingest.py [--events 60000] [--subscribers 100] [--json out.jsonl]
    .venv/bin/python benchmarks/ingest.py --only micro|memory|redis
    .venv/bin/python benchmarks/ingest.py --only redis --sources 4   # 4 concurrent sources
    .venv/bin/python benchmarks/ingest.py --only redis --sink   # as sources do: batches in flight
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import uvloop

from tickcast.app.build import build_app
from tickcast.app.run import TickcastServer, uvicorn_config
from tickcast.clock import SystemClock
from tickcast.config import load
from tickcast.model import BookDelta, BookSnapshot, Event, Market, MarketCatalog, Side, Trade
from tickcast.model.events import Level
from tickcast.model.markets import MarketKind
from tickcast.server.node import Node
from tickcast.sources.simulator import Simulator
from tickcast.state import BookChecksummer

MARKET = Market("bench-btc-usd-spot", "bench", MarketKind.SPOT, "BTC", "USD", "BTCUSD", 2, 8)
BATCH = [100]
"""Events per publish call (``--batch``)."""
HISTORY = [""]
"""The durable history store (``--history``): "" (SQLite in the data dir) or ``off``."""
READER = ["raw"]
"""How the subscribers read (``--reader``): ``raw`` (fast) or ``websockets`` (slow)."""
SETTLE = [False]
"""``--settle``: each measured pump also waits until the durable history has written
everything, so the writer thread's CPU is counted in full (off: what it did meanwhile)."""
SOURCES = [1]
"""Redis scenarios (``--sources``): concurrent sources of the ingest node, each on a market of its
own and awaiting each of its publishes, as a source does (1: one source, the default)."""
SINK = [False]
"""``--sink``: publish as a source does, through ``Node.source_sink()`` (on the Redis bus a
source's batches stay in flight, up to a window) or, before it existed, ``Node.publish``; off:
``Node.publish_envelopes``, the publish API's path (each batch awaited)."""
Result = dict[str, Any]


def trades(n: int) -> list[Event]:
    rng = random.Random(1)
    return [
        Trade(MARKET.id, str(i), 6_000_000 + rng.randrange(1000), rng.randrange(1, 10**8),
              Side.BUY if rng.random() < 0.5 else Side.SELL, 1_700_000_000_000_000_000 + i)
        for i in range(n)
    ]  # fmt: skip


def book_events(n: int, levels: int = 50) -> list[Event]:
    """A 50-level snapshot then ``n - 1`` deltas of one or two levels, mostly near the top."""
    rng = random.Random(2)
    mid = 6_000_000
    bids = {mid - 1 - i: rng.randrange(1, 10**9) for i in range(levels)}
    asks = {mid + 1 + i: rng.randrange(1, 10**9) for i in range(levels)}
    events: list[Event] = [
        BookSnapshot(MARKET.id, tuple(sorted(bids.items(), reverse=True)),
                     tuple(sorted(asks.items())), 1)
    ]  # fmt: skip
    for i in range(1, n):
        changes: tuple[list[Level], list[Level]] = ([], [])
        for _ in range(rng.choice((1, 1, 2))):
            is_bid = rng.random() < 0.5
            side = bids if is_bid else asks
            depth = int(rng.expovariate(1 / 4)) % (levels + 10)
            price = mid - 1 - depth if is_bid else mid + 1 + depth
            size = 0 if (price in side and rng.random() < 0.2) else rng.randrange(1, 10**9)
            if size:
                side[price] = size
            else:
                side.pop(price, None)
            changes[0 if is_bid else 1].append((price, size))
        events.append(BookDelta(MARKET.id, tuple(changes[0]), tuple(changes[1]), 1 + i))
    return events


def micro(deltas: Sequence[Event]) -> Result:
    checksummer = BookChecksummer(catalog=MarketCatalog([MARKET]))
    cpu = time.process_time()
    for start in range(0, len(deltas), BATCH[0]):
        checksummer.annotate(deltas[start : start + BATCH[0]])
    annotate_us = (time.process_time() - cpu) / len(deltas) * 1e6
    simulator = Simulator(seed=1, clock=SystemClock())
    now, steps, produced = 1_700_000_000_000_000_000, 50_000, 0
    cpu = time.process_time()
    for _ in range(steps):
        now += 200_000
        produced += len(simulator.step(now))
    step_cpu = time.process_time() - cpu
    return {"scenario": "micro", "annotate_us_per_delta": round(annotate_us, 2),
            "simulator_us_per_event": round(step_cpu / max(produced, 1) * 1e6, 2),
            "simulator_us_per_step": round(step_cpu / steps * 1e6, 2)}  # fmt: skip


async def subscribers_role(url: str, n: int, reader: str) -> None:
    """``n`` subscribers of ``trades`` and ``book`` of the market; ``reader``: ``raw`` counts the
    bytes of each connection after the handshake (a reader as fast as the kernel, like a C
    client), ``websockets`` parses every frame with the websockets client (a slow reader)."""
    counts = [0] * n
    streams = f"trades:{MARKET.id},book:{MARKET.id}"
    one = _raw_reader if reader == "raw" else _websockets_reader
    tasks = [asyncio.create_task(one(f"{url}&streams={streams}", counts, i)) for i in range(n)]
    await asyncio.sleep(1.5)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"frames" if reader != "raw" else "bytes": sum(counts)}), flush=True)
    for task in tasks:
        task.cancel()


async def _websockets_reader(url: str, counts: list[int], index: int) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=2**24) as ws:
        async for _ in ws:
            counts[index] += 1


class _Counter(asyncio.Protocol):
    """Sends the handshake, checks the 101, then only counts bytes (pings go unanswered: the
    server's keepalive interval is far longer than a run)."""

    def __init__(self, request: bytes, counts: list[int], index: int) -> None:
        self.request, self.counts, self.index = request, counts, index
        self.head: bytes | None = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.WriteTransport, transport).write(self.request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.head is None:
            self.counts[self.index] += len(data)
            return
        self.head += data
        head, sep, rest = self.head.partition(b"\r\n\r\n")
        if sep:
            assert head.startswith(b"HTTP/1.1 101"), head
            self.head = None
            self.counts[self.index] += len(rest)


async def _raw_reader(url: str, counts: list[int], index: int) -> None:
    host, _, path = url.removeprefix("ws://").partition("/")
    hostname, _, port = host.partition(":")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(
        lambda: _Counter(request, counts, index), hostname, int(port)
    )
    try:
        await asyncio.Future()
    finally:
        transport.abort()


@contextlib.asynccontextmanager
async def serving(**overrides: Any) -> AsyncIterator[tuple[Node, str]]:
    """An in-process server (no sources) knowing MARKET; yields the node and its /ws URL."""
    with tempfile.TemporaryDirectory() as data_dir:
        config = load(environ={}, overrides={
            "sources": ("none",), "data_dir": data_dir, "log_level": "warning",
            "outbox_bytes": 64 * 1024 * 1024, "history": HISTORY[0], **overrides,
        })  # fmt: skip
        app = build_app(config, announce=False)
        node: Node = app.state.node
        node.catalog.add(MARKET)
        server = TickcastServer(uvicorn_config(config, app), node=node)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        port = sock.getsockname()[1]
        try:
            yield node, f"ws://127.0.0.1:{port}/api/v1/ws?api_key={node.development_key}"
        finally:
            server.should_exit = True
            await task


async def pump(node: Node, events: Sequence[Event]) -> tuple[float, float, float]:
    """Publish ``events`` in batches until the hub has no backlog left: (wall s, CPU s, of
    which system s: the kernel's share, socket writes)."""
    wall, cpu, system = time.perf_counter(), time.process_time(), os.times().system
    batch = BATCH[0]
    sink = getattr(node, "source_sink", lambda: None)() if SINK[0] else None
    publish = node.publish if SINK[0] and sink is None else node.publish_envelopes
    for start in range(0, len(events), batch):
        await (publish if sink is None else sink.publish)(events[start : start + batch])
        await asyncio.sleep(0)
    if sink is not None:
        await sink.flush()
    for _ in range(2000):
        if not node.hub.backlogged():
            break
        await asyncio.sleep(0.005)
    if SETTLE[0] and node.history is not None:
        await node.history.flushed()
    return time.perf_counter() - wall, time.process_time() - cpu, os.times().system - system


def per_source(events: Sequence[Event], sources: int) -> tuple[list[Market], list[list[Event]]]:
    """``sources`` markets and as many copies of the first ``len(events) // sources`` events, each
    on its market (a book scenario's copies each start with the snapshot)."""
    markets = [dataclasses.replace(MARKET, id=f"bench{i}-btc-usd-spot") for i in range(sources)]
    share = events[: len(events) // sources]
    return markets, [[dataclasses.replace(e, market=m.id) for e in share] for m in markets]


async def redis_us_per_event(url: str, events: int, reset: bool = False) -> float:
    """Redis' own time in the publish script per event since the last reset (commandstats)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        if reset:
            await client.config_resetstat()
            return 0.0
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    usec = sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_eval"))
    return round(usec / max(events, 1), 2)


async def sources_run(name: str, events: Sequence[Event], url: str) -> Result:
    """``SOURCES[0]`` concurrent sources into a Redis ingest node (``--sources``)."""
    async with serving(bus=url, role="ingest") as (node, _):
        markets, shares = per_source(events, SOURCES[0])
        for market in markets:
            node.catalog.add(market)
        await asyncio.gather(*(pump(node, share[: len(share) // 10]) for share in shares))
        await redis_us_per_event(url, 0, reset=True)
        timed = [share[len(share) // 10 :] for share in shares]
        wall, cpu, system = time.perf_counter(), time.process_time(), os.times().system
        await asyncio.gather(*(pump(node, share) for share in timed))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        system = os.times().system - system
    n = sum(len(share) for share in timed)
    return {"scenario": name, "subscribers": 0, "sources": SOURCES[0], "batch": BATCH[0],
            **({"sink": True} if SINK[0] else {}),
            "events": n, "per_cpu_s": round(n / cpu), "per_wall_s": round(n / wall),
            "per_user_cpu_s": round(n / max(cpu - system, 1e-9)),
            "sys_share": round(system / cpu, 2),
            "redis_us_per_event": await redis_us_per_event(url, n)}  # fmt: skip


async def child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def bus_run(name: str, events: Sequence[Event], subscribers: int, **config: Any) -> Result:
    async with serving(**config) as (node, url):
        process = None
        if subscribers:
            process = await child(
                "--role", "subscribers", "--url", url, "--n", str(subscribers),
                "--reader", READER[0],
            )  # fmt: skip
            assert process.stdout is not None and process.stdin is not None
            assert (await process.stdout.readline()).strip() == b"ready"
        await pump(node, events[: len(events) // 10])  # warm up (the snapshot comes first)
        wall, cpu, system = await pump(node, events[len(events) // 10 :])
        received: dict[str, int] = {}
        if process is not None:
            assert process.stdout is not None and process.stdin is not None
            await asyncio.sleep(0.5)
            process.stdin.write(b"stop\n")
            received = json.loads(await process.stdout.readline())
            await process.wait()
    n = len(events) - len(events) // 10
    rates = {"per_cpu_s": round(n / cpu), "per_wall_s": round(n / wall),
             "per_user_cpu_s": round(n / max(cpu - system, 1e-9)),
             "sys_share": round(system / cpu, 2)}  # fmt: skip
    reader = {"reader": READER[0]} if subscribers else {}
    sink = {"sink": True} if SINK[0] else {}
    return {"scenario": name, "subscribers": subscribers, **reader, **sink, "batch": BATCH[0],
            "events": n,
            **rates, **received}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server() -> Any:
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


async def publish_ceiling(url: str, n: int) -> list[Result]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    payload = b"x" * 120
    started = time.perf_counter()
    for _ in range(n // 10):
        await client.publish("bench", payload)
    plain = (n // 10) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(0, n, 1000):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(1000):
                pipe.publish("bench", payload)
            await pipe.execute()
    piped = n / (time.perf_counter() - started)
    await client.aclose()
    return [{"scenario": "redis PUBLISH unpipelined", "per_wall_s": round(plain)},
            {"scenario": "redis PUBLISH pipelined x1000", "per_wall_s": round(piped)}]  # fmt: skip


async def run(n: int, subscribers: int, only: str, emit: Callable[[Result], None]) -> None:
    trade_events, deltas = trades(n), book_events(n)
    if only in ("all", "micro"):
        emit(micro(deltas))
    for count in (0, subscribers) if only in ("all", "memory") else ():
        emit(await bus_run("memory trades", trade_events, count))
        emit(await bus_run("memory book deltas", deltas, count))
    if only not in ("all", "redis"):
        return
    with redis_server() as url:
        redis = {"bus": url, "role": "ingest"}
        for name, events in (("redis trades (ingest node)", trade_events),
                             ("redis book deltas (ingest node)", deltas)):  # fmt: skip
            if SOURCES[0] > 1:
                emit(await sources_run(name, events, url))
            else:
                emit(await bus_run(name, events, 0, **redis))
        for result in await publish_ceiling(url, n * 2):
            emit(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--json", help="append each result as a JSON line to this file")
    parser.add_argument("--only", choices=("all", "micro", "memory", "redis"), default="all")
    parser.add_argument("--batch", type=int, default=100, help="events per publish call")
    parser.add_argument("--role", choices=("subscribers",))
    parser.add_argument("--url")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument(
        "--reader",
        choices=("raw", "websockets"),
        default="raw",
        help="subscribers: count raw bytes (fast) or parse frames (slow)",
    )
    parser.add_argument("--history", default="", help="durable history store: default or off")
    parser.add_argument(
        "--settle",
        action="store_true",
        help="count the history writer's CPU in full (wait for it to write each pump's events)",
    )
    parser.add_argument(
        "--sources",
        type=int,
        default=1,
        help="Redis scenarios: concurrent sources of the ingest node, one market each",
    )
    parser.add_argument(
        "--sink",
        action="store_true",
        help="publish as a source does (Node.source_sink: batches in flight on the Redis bus)",
    )
    args = parser.parse_args()
    if args.role == "subscribers":
        uvloop.run(subscribers_role(args.url, args.n, args.reader))
        return

    def emit(result: Result) -> None:
        print(json.dumps(result), flush=True)
        if args.json:
            with open(args.json, "a") as out:
                out.write(json.dumps(result) + "\n")

    BATCH[0], READER[0], HISTORY[0], SETTLE[0] = args.batch, args.reader, args.history, args.settle
    SOURCES[0], SINK[0] = max(args.sources, 1), args.sink
    uvloop.run(run(args.events, args.subscribers, args.only, emit))


if __name__ == "__main__":
    main()
