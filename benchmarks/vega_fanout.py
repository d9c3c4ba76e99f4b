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
clients (``benchmarks/rawclients.py``: no framing, no JSON, one marker per trade),
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
import json
import os
import re
import statistics
import sys
import tempfile
import time
from typing import cast

import httpx
import psutil
import rawclients
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


def _vega_env(clients: int, block: float) -> dict[str, str]:
    return {
        "TICKCAST_VEGA_BLOCK_TIME": str(block),
        "TICKCAST_VEGA_MAX_STREAMS_PER_ADDRESS": str(clients + 4),
    }


def raw_main(argv: list[str]) -> None:
    """``--raw``: N counting clients on ``/api/v2/stream/trades``, the bench source at ``--rate``;
    prints one JSON line (trades delivered/s, server CPU %)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", default="max", help="the bench source's msgs/s, or max")
    parser.add_argument("--block", type=float, default=1.0)
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, client on CPU 1")
    args = parser.parse_args(argv)
    env = _vega_env(args.clients, args.block)
    server, port, _ = rawclients.start_server(
        args.clients, f"bench:rate={args.rate}", pin=args.pin, env=env
    )
    if args.pin and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        uvloop.run(_raw_measure(args, port, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=20)


async def _raw_measure(args: argparse.Namespace, port: str, process: psutil.Process) -> None:
    path = "/api/v2/stream/trades"
    counters = await rawclients.open_raw(port, path, TRADE_MARKER, args.clients)
    window = await rawclients.count_window(counters, process, args.warmup, args.duration)
    window.pop("cut"), window.pop("delivered_per_cpu_s"), window.pop("clients")
    record = {"dialect": "vega", "rate": args.rate, "clients": args.clients}
    print(json.dumps({**record, "block_s": args.block, **window}), flush=True)


MARKERS = {"vega": b'"aggressor":', "native": b'"seq":'}
"""One per delivered trade in the raw byte stream."""
CUT = {"vega": b"internal stream failure", "native": b'"type":"Closing"'}


def _stream_path(dialect: str, key: str) -> str:
    if dialect == "native":
        return f"/api/v1/ws?api_key={key}&streams=trades:{rawclients.BENCH_MARKET}"
    return "/api/v2/stream/trades"


async def versus_measure(
    args: argparse.Namespace, dialect: str, port: str, key: str, process: psutil.Process
) -> dict[str, object]:
    """Max deliveries/s to N raw clients of one dialect on the bench stream."""
    path, marker, cut = _stream_path(dialect, key), MARKERS[dialect], CUT[dialect]
    counters = await rawclients.open_raw(port, path, marker, args.clients, cut)
    window = await rawclients.count_window(counters, process, args.warmup, args.duration)
    rounded = {k: round(v, 1) if "pct" in k else round(v) for k, v in window.items()}
    return {
        "dialect": dialect,
        "block_s": args.block if dialect == "vega" else None,
        **rounded,
        "loadavg_1m": os.getloadavg()[0],
    }


async def idle_measure(
    args: argparse.Namespace, dialect: str, port: str, key: str, process: psutil.Process
) -> dict[str, object]:
    """RSS per idle stream: N streams on which nothing is published."""
    path = _stream_path(dialect, key)
    idle = await rawclients.idle_kb(process, port, path, MARKERS[dialect], args.clients)
    return {
        "dialect": dialect,
        "idle_clients": idle["idle_clients"],
        "idle_kb_per_conn": round(idle["idle_kb_per_conn"], 2),
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
            env = _vega_env(args.clients, args.block)
            server, port, key = rawclients.start_server(args.clients, source, pin=args.pin, env=env)
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
