"""Vega streams end to end: one ``tickcast serve`` subprocess, N WebSocket clients on
``/api/v2/stream/trades`` (a third of them filtered by a party), for D seconds.

    .venv/bin/python benchmarks/vega_fanout.py [--clients 200] [--seconds 20]
        [--source simulator] [--block 1.0]

Prints messages and bytes received, server CPU and RSS, the delay from a trade's timestamp
to its arrival (this includes waiting for the end of its block: up to ``--block`` seconds), and
how many clients the server cut (its "internal stream failure" line or a dropped connection).
Big blocks (issue 20 point 5): a longer ``--block`` with ``--source simulator:stress`` puts
thousands of trades in one block, more than the 1 MiB per-stream budget. ``--json``: one JSON
line of the same figures at the end (``benchmarks/compare.py`` reads it).

``--raw [--rate R] [--pin]``: max (or paced) fan-out of the bench stream's trades to N counting
clients (``benchmarks/cm_fanout.py``'s raw client: no framing, no JSON, one marker per trade),
as ``cm_fanout.py --raw`` does for Coin Metrics and native (issue 20 points 1 and 3); prints
one JSON line: trades delivered/s, the server's CPU.

    .venv/bin/python benchmarks/vega_fanout.py --raw --clients 1000 --duration 8 --pin
    .venv/bin/python benchmarks/vega_fanout.py --raw --rate 50 --clients 1000 --pin

``--raw --dialects vega,native [--reps N]``: the same max rate, Vega against native in the same
run, alternating per round, each on a fresh server: one JSON record per run (trades delivered/s,
clients cut by the Internal line, clients still open at the end, server CPU, deliveries per CPU
second) and the Vega/native ratio. A Vega delivery is one item of a block's line (its
``"aggressor":``), a native one a message (its ``"seq":``). ``--idle``: RSS per idle Vega stream
(N streams, nothing published), one JSON record.

    .venv/bin/python benchmarks/vega_fanout.py --raw --dialects vega,native --duration 6
    .venv/bin/python benchmarks/vega_fanout.py --idle --clients 2000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import cast

import httpx
import psutil
import websockets

from tickcast.sources.parties import party_id


async def client(url: str, stop: float, stats: dict[str, list[float]]) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        while time.time() < stop:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, stop - time.time()))
            except TimeoutError:
                break
            except websockets.ConnectionClosed:
                stats["cut"].append(1)
                return
            now = time.time_ns()
            stats["bytes"].append(len(raw))
            message = json.loads(raw)
            if "result" not in message:  # the stream failure line: the server gives up
                stats["cut"].append(1)
                return
            trades = message["result"]["trades"]
            newest = max(int(trade["timestamp"]) for trade in trades)
            stats["delay"].append((now - newest) / 1e6)


def _record(
    args: argparse.Namespace,
    elapsed: float,
    stats: dict[str, list[float]],
    cpu: float,
    delays: list[float],
) -> dict[str, object]:
    """``--json``: the printed figures as one record."""
    return {
        "clients": args.clients,
        "source": args.source,
        "block_s": args.block,
        "seconds": round(elapsed, 1),
        "messages_per_s": round(len(delays) / elapsed, 1),
        "mb_per_s": round(sum(stats["bytes"]) / elapsed / 1e6, 2),
        "cut": len(stats["cut"]),
        "server_cpu_pct": round(cpu * 100, 1),
        "delay_p99_ms": round(delays[int(len(delays) * 0.99) - 1]) if delays else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--source", default="simulator")
    parser.add_argument("--block", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="vega-bench-")
    env = {**os.environ, "TICKCAST_VEGA_BLOCK_TIME": str(args.block)}
    command = [sys.executable, "-m", "tickcast.cli.main", "serve", "--port", "0"]
    command += ["--data-dir", data, "--source", args.source, "--log-level", "warning"]
    server = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None
        port = None
        while port is None:
            line = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()
            match = re.search(r"listening on http://[^:]+:(\d+)", line)
            port = int(match.group(1)) if match else None
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        process = psutil.Process(server.pid)
        base = f"ws://127.0.0.1:{port}/api/v2/stream/trades"
        urls = [
            f"{base}?partyIds={party_id(4 + n % 10)}" if n % 3 == 0 else base
            for n in range(args.clients)
        ]
        stats: dict[str, list[float]] = {"bytes": [], "delay": [], "cut": []}
        cpu_before = process.cpu_times()
        started = time.time()
        stop = started + args.seconds
        await asyncio.gather(*(client(url, stop, stats) for url in urls))
        elapsed = time.time() - started
        cpu_after = process.cpu_times()
        cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
        delays = sorted(stats["delay"])
        print(f"clients               {args.clients} ({args.clients // 3 + 1} party-filtered)")
        print(f"messages received     {len(delays)} ({len(delays) / elapsed:.0f}/s)")
        print(f"bytes received        {sum(stats['bytes']) / elapsed / 1e6:.2f} MB/s")
        print(f"clients cut           {len(stats['cut'])} of {args.clients}")
        print(f"server CPU            {cpu * 100:.0f} % of one core")
        print(f"server RSS            {process.memory_info().rss / 1e6:.0f} MB")
        if delays:
            p50 = statistics.median(delays)
            p99 = delays[int(len(delays) * 0.99) - 1]
            print(f"trade → client delay  p50 {p50:.0f} ms, p99 {p99:.0f} ms (block {args.block}s)")
        if args.json:
            print(json.dumps(_record(args, elapsed, stats, cpu, delays)), flush=True)
    finally:
        server.terminate()
        await server.wait()


TRADE_MARKER = b'"aggressor"'  # once per trade in a Vega trades line


def raw_main(argv: list[str]) -> None:
    """``--raw``: N counting clients on ``/api/v2/stream/trades``, the bench source at ``--rate``;
    prints one JSON line (trades delivered/s, server CPU %)."""
    import cm_fanout

    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", default="max", help="the bench source's msgs/s, or max")
    parser.add_argument("--block", type=float, default=1.0)
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, client on CPU 1")
    args = parser.parse_args(argv)
    args.source = f"bench:rate={args.rate}"
    os.environ["TICKCAST_VEGA_BLOCK_TIME"] = str(args.block)
    os.environ["TICKCAST_VEGA_MAX_STREAMS_PER_ADDRESS"] = str(args.clients + 4)
    server, port, _ = cm_fanout.start_server(args, pin=args.pin)
    if args.pin and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        uvloop.run(_raw_measure(args, port, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=20)


async def _raw_measure(args: argparse.Namespace, port: str, process: psutil.Process) -> None:
    import cm_fanout

    path = "/api/v2/stream/trades"
    counters = await cm_fanout._open_raw(port, path, TRADE_MARKER, args.clients)
    await asyncio.sleep(args.warmup)
    before = [c.count for c in counters]
    cpu0, own0, t0 = sum(process.cpu_times()[:2]), sum(os.times()[:2]), time.monotonic()
    await asyncio.sleep(args.duration)
    after = [c.count for c in counters]
    cpu1, own1, t1 = sum(process.cpu_times()[:2]), sum(os.times()[:2]), time.monotonic()
    elapsed = t1 - t0
    window = [b - a for a, b in zip(before, after, strict=True)]
    record = {
        "dialect": "vega",
        "rate": args.rate,
        "clients": args.clients,
        "block_s": args.block,
        "open_at_end": sum(not c.closed for c in counters),
        "delivered_per_s": sum(window) / elapsed,
        "per_client_min": min(window) / elapsed,
        "per_client_max": max(window) / elapsed,
        "server_cpu_pct": 100 * (cpu1 - cpu0) / elapsed,
        "server_rss_mb": process.memory_info().rss / 1e6,
        "client_cpu_pct": 100 * (own1 - own0) / elapsed,
    }
    print(json.dumps(record), flush=True)


TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
BENCH_MARKET = "bench-btc-usd-spot"
MARKERS = {"vega": b'"aggressor":', "native": b'"seq":'}
"""One per delivered trade in the raw byte stream."""
CUT = {"vega": b"internal stream failure", "native": b'"type":"Closing"'}


class RawCounter(asyncio.Protocol):
    """A WebSocket client that only counts markers in the bytes it receives (no framing, no
    JSON, so it keeps up with millions of deliveries/s); a marker split across reads counts."""

    def __init__(self, request: bytes, dialect: str, ready: asyncio.Future[None]) -> None:
        self.request, self.ready = request, ready
        self.marker, self.cut_marker = MARKERS[dialect], CUT[dialect]
        self.head = b""
        self.upgraded = False
        self.tail = b""
        self.count = 0
        self.frames = 0
        self.cut = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.head[: self.head.find(b"\r\n")]:
                self.ready.set_exception(RuntimeError(self.head[:200].decode("latin-1")))
                return
            self.upgraded = True
            data = self.head[end + 4 :]
            self.ready.set_result(None)
        joined = self.tail + data
        self.count += joined.count(self.marker) - self.tail.count(self.marker)
        self.cut = self.cut or self.cut_marker in joined
        self.tail = data[-64:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))


def start_raw_server(
    clients: int, source: str, block: float, *, pin: bool
) -> tuple[subprocess.Popen[str], str, str]:
    """``tickcast serve`` on a free port, a ``pro`` key for ``clients`` native connections and
    room for ``clients`` Vega streams from this address."""
    data = Path(tempfile.mkdtemp(prefix="vega-bench-"))
    config = data / "bench.toml"
    config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {clients + 4}\n')
    common = ["--data-dir", str(data), "--config", str(config)]
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "pro", *common],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    env = {
        **os.environ,
        "TICKCAST_VEGA_BLOCK_TIME": str(block),
        "TICKCAST_VEGA_MAX_STREAMS_PER_ADDRESS": str(clients + 4),
    }
    taskset = ["taskset", "-c", "0"] if pin and len(os.sched_getaffinity(0)) > 1 else []
    server = subprocess.Popen(
        [*taskset, *TICKCAST, "serve", "--port", "0", "--source", source,
         "--log-level", "warning", *common],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    port = re.search(r":(\d+) ", server.stdout.readline())
    if port is None:
        server.kill()
        raise SystemExit("server did not start")
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/healthz", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise SystemExit("server never became healthy") from None
            time.sleep(0.2)
    return server, port.group(1), key


def _stream_path(dialect: str, key: str) -> str:
    if dialect == "native":
        return f"/api/v1/ws?api_key={key}&streams=trades:{BENCH_MARKET}"
    return "/api/v2/stream/trades"


async def open_raw(port: str, dialect: str, key: str, n: int) -> list[RawCounter]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(32)  # handshakes in flight
    path = _stream_path(dialect, key)

    async def one() -> RawCounter:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            nonce = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            _, counter = await loop.create_connection(
                lambda: RawCounter(request, dialect, ready), "127.0.0.1", int(port)
            )
            await asyncio.wait_for(ready, 60)
            return counter

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def versus_measure(
    args: argparse.Namespace, dialect: str, port: str, key: str, process: psutil.Process
) -> dict[str, object]:
    """Max deliveries/s to N raw clients of one dialect on the bench stream."""
    counters = await open_raw(port, dialect, key, args.clients)
    await asyncio.sleep(args.warmup)
    before = [c.count for c in counters]
    cpu0, t0 = sum(process.cpu_times()[:2]), time.monotonic()
    own0 = sum(os.times()[:2])
    await asyncio.sleep(args.duration)
    after = [c.count for c in counters]
    cpu1, t1 = sum(process.cpu_times()[:2]), time.monotonic()
    own1 = sum(os.times()[:2])
    elapsed = t1 - t0
    window = [b - a for a, b in zip(before, after, strict=True)]
    delivered = sum(window) / elapsed
    cpu = (cpu1 - cpu0) / elapsed
    return {
        "dialect": dialect,
        "clients": args.clients,
        "block_s": args.block if dialect == "vega" else None,
        "open_at_end": sum(not c.closed for c in counters),
        "cut": sum(c.cut for c in counters),
        "delivered_per_s": round(delivered),
        "per_client_min": round(min(window) / elapsed),
        "per_client_max": round(max(window) / elapsed),
        "server_cpu_pct": round(100 * cpu, 1),
        "delivered_per_cpu_s": round(delivered / cpu) if cpu else None,
        "server_rss_mb": round(process.memory_info().rss / 1e6),
        "client_cpu_pct": round(100 * (own1 - own0) / elapsed, 1),
        "loadavg_1m": os.getloadavg()[0],
    }


async def idle_measure(
    args: argparse.Namespace, dialect: str, port: str, key: str, process: psutil.Process
) -> dict[str, object]:
    """RSS per idle stream: N streams on which nothing is published."""
    await asyncio.sleep(1.0)
    rss0 = process.memory_info().rss
    counters = await open_raw(port, dialect, key, args.clients)
    await asyncio.sleep(2.0)
    rss1 = process.memory_info().rss
    return {
        "dialect": dialect,
        "idle_clients": sum(not c.closed for c in counters),
        "idle_kb_per_conn": round((rss1 - rss0) / 1024 / args.clients, 2),
        "note": "RSS after - before, 2 s after the last handshake",
        "loadavg_1m": os.getloadavg()[0],
    }


def versus_run(args: argparse.Namespace) -> None:
    """``--raw --dialects`` / ``--idle``: each dialect in turn, ``--reps`` rounds."""
    import uvloop

    source = "bench:rate=max" if args.raw else "bench:rate=max,start=usr2"
    runner = versus_measure if args.raw else idle_measure
    mine = os.sched_getaffinity(0)
    records: list[dict[str, object]] = []
    for _ in range(args.reps):
        for dialect in args.dialects.split(","):
            server, port, key = start_raw_server(args.clients, source, args.block, pin=args.pin)
            if args.pin and len(mine) > 1:
                os.sched_setaffinity(0, {1})
            try:
                process = psutil.Process(server.pid)
                record = uvloop.run(runner(args, dialect, port, key, process))
            finally:
                os.sched_setaffinity(0, mine)
                server.terminate()
                server.wait(timeout=20)
            records.append(record)
            print(json.dumps(record), flush=True)
    if args.raw:
        rates = {
            d: [float(cast(float, r["delivered_per_s"])) for r in records if r["dialect"] == d]
            for d in ("vega", "native")
        }
        if rates["vega"] and rates["native"]:
            ratio = statistics.median(rates["vega"]) / statistics.median(rates["native"])
            print(json.dumps({"vega_over_native": round(ratio, 3), "target": 0.5}), flush=True)


def versus_main(argv: list[str]) -> None:
    """``--raw --dialects vega,native [--reps N]`` and ``--idle`` (vega20's modes)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", action="store_true", help="max deliveries/s, Vega and native")
    parser.add_argument("--idle", action="store_true", help="RSS per idle Vega stream")
    parser.add_argument("--dialects", default=None, help="--raw: vega,native; --idle: vega")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=8.0, help="--raw: counting window")
    parser.add_argument("--warmup", type=float, default=3.0, help="--raw: before the window")
    parser.add_argument("--reps", type=int, default=1, help="rounds")
    parser.add_argument("--block", type=float, default=1.0)
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, client on CPU 1")
    args = parser.parse_args(argv)
    args.dialects = args.dialects or ("vega,native" if args.raw else "vega")
    versus_run(args)


_VERSUS = ("--idle", "--dialects", "--reps")


if __name__ == "__main__":
    if any(arg.split("=")[0] in _VERSUS for arg in sys.argv[1:]):
        versus_main(sys.argv[1:])
    elif "--raw" in sys.argv[1:]:
        raw_main(sys.argv[1:])
    else:
        asyncio.run(main())
