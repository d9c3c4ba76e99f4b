"""Fan-out of the Coin Metrics stream dialect: N WebSocket clients on the same streams.

Starts ``tickcast serve`` (temp data dir, the ``pro`` plan's ``max_connections`` raised to N),
connects N clients to ``/v4/timeseries-stream/<endpoint>`` with the same parameters, and after a
warm-up counts messages for a window. Prints delivered messages/s, the fan-out ratio, whether
every connection's ``cm_sequence_id`` was contiguous, and the server's CPU and RSS.

    .venv/bin/python benchmarks/cm_fanout.py --clients 200 --duration 10
    .venv/bin/python benchmarks/cm_fanout.py --endpoint market-orderbooks --source simulator
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]


class Client:
    def __init__(self) -> None:
        self.count = 0
        self.window = 0
        self.last = -1
        self.broken = 0
        self.counting = False


async def read(url: str, client: Client, stop: asyncio.Event, gate: asyncio.Semaphore) -> None:
    async with gate:
        ws = await connect(url, max_size=None, compression=None, open_timeout=60)
    async with ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            message = json.loads(text)
            seq = message.get("cm_sequence_id")
            if seq is None:
                continue
            if int(seq) != client.last + 1:
                client.broken += 1
            client.last = int(seq)
            client.count += 1
            if client.counting:
                client.window += 1


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    """``tickcast serve`` on a free port with a key whose plan allows every client."""
    data = Path(tempfile.mkdtemp(prefix="cm-bench-"))
    config = data / "bench.toml"
    config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {args.clients + 4}\n')
    common = ["--data-dir", str(data), "--config", str(config)]
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "pro", *common],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    server = subprocess.Popen(
        [*TICKCAST, "serve", "--port", "0", "--source", args.source, "--log-level", "warning",
         *common],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    port = re.search(r":(\d+) ", server.stdout.readline())
    if port is None:
        server.kill()
        raise SystemExit("server did not start")
    deadline = time.monotonic() + 60
    while True:  # "listening" is printed when the socket is bound, before uvicorn serves
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/healthz", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise SystemExit("server never became healthy") from None
            time.sleep(0.2)
    return server, port.group(1), key


async def measure(args: argparse.Namespace, url: str, process: psutil.Process) -> None:
    clients = [Client() for _ in range(args.clients)]
    stop = asyncio.Event()
    gate = asyncio.Semaphore(32)  # handshakes in flight
    tasks = [asyncio.create_task(read(url, c, stop, gate)) for c in clients]
    await asyncio.sleep(args.warmup)
    cpu0, t0 = sum(process.cpu_times()[:2]), time.monotonic()
    for c in clients:
        c.counting = True
    await asyncio.sleep(args.duration)
    for c in clients:
        c.counting = False
    cpu1, t1 = sum(process.cpu_times()[:2]), time.monotonic()
    rss = process.memory_info().rss / 1e6
    stop.set()
    failures = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if r]
    if failures:
        print(f"client failures: {len(failures)}, first: {failures[0]!r}")
    elapsed = t1 - t0
    total = sum(c.window for c in clients)
    per_client = [c.window / elapsed for c in clients]
    connected = sum(1 for c in clients if c.count)
    print(f"endpoint {args.endpoint}?{args.params} source {args.source}")
    print(f"clients connected      {connected}/{args.clients}")
    print(f"delivered msgs/s       {total / elapsed:,.0f}")
    print(f"per client msgs/s      min {min(per_client):.1f} max {max(per_client):.1f}")
    print(f"fan-out ratio          {min(per_client) / max(max(per_client), 1e-9):.3f} (min/max)")
    print(f"cm_sequence_id breaks  {sum(c.broken for c in clients)}")
    print(f"server cpu %           {100 * (cpu1 - cpu0) / elapsed:.0f}")
    print(f"server rss MB          {rss:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--source", default="simulator:stress")
    parser.add_argument("--endpoint", default="market-trades")
    parser.add_argument("--params", default="markets=binance-*-spot")
    args = parser.parse_args()
    server, port, key = start_server(args)
    url = (f"ws://127.0.0.1:{port}/v4/timeseries-stream/{args.endpoint}"
           f"?api_key={key}&{args.params}")  # fmt: skip
    try:
        asyncio.run(measure(args, url, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
