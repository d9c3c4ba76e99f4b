"""Vega streams end to end: one ``tickcast serve`` subprocess, N WebSocket clients on
``/api/v2/stream/trades`` (a third of them filtered by a party), for D seconds.

    .venv/bin/python benchmarks/vega_fanout.py [--clients 200] [--seconds 20]
        [--source simulator] [--block 1.0]

Prints messages and bytes received, server CPU and RSS, the delay from a trade's timestamp
to its arrival (this includes waiting for the end of its block: up to ``--block`` seconds), and
how many clients the server cut (its "internal stream failure" line or a dropped connection).
Big blocks (issue 20 point 5): a longer ``--block`` with ``--source simulator:stress`` puts
thousands of trades in one block, more than the 1 MiB per-stream budget.
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--source", default="simulator")
    parser.add_argument("--block", type=float, default=1.0)
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
    finally:
        server.terminate()
        await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
