"""Fan-out of the Coin Metrics stream dialect: N WebSocket clients on the same streams.

Starts ``tickcast serve`` (temp data dir, the ``pro`` plan's ``max_connections`` raised to N),
connects N clients to ``/v4/timeseries-stream/<endpoint>`` with the same parameters, and after a
warm-up counts messages for a window. Prints delivered messages/s, the fan-out ratio, whether
every connection's ``cm_sequence_id`` was contiguous, and the server's CPU and RSS.

    .venv/bin/python benchmarks/cm_fanout.py --clients 200 --duration 10
    .venv/bin/python benchmarks/cm_fanout.py --endpoint market-orderbooks --source simulator

``--raw``: max fan-out on one stream, Coin Metrics against native in the same run (issue 20
point 3). The server (``--source bench:rate=max``, pinned to CPU 0) is read by a counting client
pinned to CPU 1 that does not parse WebSocket frames or JSON: it counts the messages' markers
(``"cm_sequence_id"``, native ``"seq":``) in the raw TCP stream, so it keeps up with millions of
messages per second. ``--idle``: RSS per idle connection (N connections, nothing published).

    .venv/bin/python benchmarks/cm_fanout.py --raw --clients 1000 --duration 8
    .venv/bin/python benchmarks/cm_fanout.py --raw --dialect coinmetrics --clients 1000
    .venv/bin/python benchmarks/cm_fanout.py --idle --clients 2000

``--raw --rate 50``: the same at a paced rate (the bench source publishing 50 msgs/s): the
server's CPU at light load, Coin Metrics against native (issue 20 point 1).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import cast

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


def start_server(
    args: argparse.Namespace, *, pin: bool = False
) -> tuple[subprocess.Popen[str], str, str]:
    """``tickcast serve`` on a free port with a key whose plan allows every client (``pin``:
    on CPU 0, with ``taskset``)."""
    data = Path(tempfile.mkdtemp(prefix="cm-bench-"))
    config = data / "bench.toml"
    config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {args.clients + 4}\n')
    common = ["--data-dir", str(data), "--config", str(config)]
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "pro", *common],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    taskset = ["taskset", "-c", "0"] if pin and len(os.sched_getaffinity(0)) > 1 else []
    server = subprocess.Popen(
        [*taskset, *TICKCAST, "serve", "--port", "0", "--source", args.source,
         "--log-level", "warning", *common],
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


MARKERS = {"coinmetrics": b'"cm_sequence_id"', "native": b'"seq":'}
BENCH_MARKET = "bench-btc-usd-spot"


class RawCounter(asyncio.Protocol):
    """A WebSocket client that only counts a marker in the bytes it receives (no framing, no
    JSON); a marker split across two reads is counted once."""

    def __init__(self, request: bytes, marker: bytes, ready: asyncio.Future[None]) -> None:
        self.request, self.marker, self.ready = request, marker, ready
        self.head = b""
        self.upgraded = False
        self.tail = b""
        self.count = 0
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
        m = len(self.marker)
        self.count += data.count(self.marker) + (self.tail + data[: m - 1]).count(self.marker)
        self.tail = data[-(m - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))


def _request(port: str, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _open_raw(port: str, path: str, marker: bytes, n: int) -> list[RawCounter]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(32)

    async def one() -> RawCounter:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            request = _request(port, path)
            _, counter = await loop.create_connection(
                lambda: RawCounter(request, marker, ready), "127.0.0.1", int(port)
            )
            await asyncio.wait_for(ready, 60)
            return counter

    return list(await asyncio.gather(*(one() for _ in range(n))))


def _stream_path(dialect: str, key: str) -> str:
    if dialect == "native":
        return f"/api/v1/ws?api_key={key}&streams=trades:{BENCH_MARKET}"
    return f"/v4/timeseries-stream/market-trades?api_key={key}&markets={BENCH_MARKET}"


async def raw_measure(
    args: argparse.Namespace, port: str, key: str, process: psutil.Process
) -> None:
    """Max deliveries/s to N raw clients of one dialect on the bench stream."""
    counters = await _open_raw(
        port, _stream_path(args.dialect, key), MARKERS[args.dialect], args.clients
    )
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
    result = {
        "dialect": args.dialect,
        "clients": args.clients,
        "open_at_end": sum(not c.closed for c in counters),
        "delivered_per_s": sum(window) / elapsed,
        "per_client_min": min(window) / elapsed,
        "per_client_max": max(window) / elapsed,
        "server_cpu_pct": 100 * (cpu1 - cpu0) / elapsed,
        "server_rss_mb": process.memory_info().rss / 1e6,
        "client_cpu_pct": 100 * (own1 - own0) / elapsed,
    }
    print(json.dumps(result))


async def idle_measure(
    args: argparse.Namespace, port: str, key: str, process: psutil.Process
) -> None:
    """RSS per idle connection: N connections to a stream on which nothing is published."""
    await asyncio.sleep(1.0)
    rss0 = process.memory_info().rss
    counters = await _open_raw(
        port, _stream_path(args.dialect, key), MARKERS[args.dialect], args.clients
    )
    await asyncio.sleep(2.0)
    rss1 = process.memory_info().rss
    result = {
        "dialect": args.dialect,
        "idle_clients": sum(not c.closed for c in counters),
        "idle_kb_per_conn": (rss1 - rss0) / 1024 / args.clients,
        "tasks_note": "RSS after - before, 2 s after the last handshake",
    }
    print(json.dumps(result))


def raw_main(args: argparse.Namespace) -> None:
    """``--raw`` / ``--idle`` (``--pin``: the server on CPU 0, this client on CPU 1)."""
    args.source = f"bench:rate={args.rate}" if args.raw else "bench:rate=max,start=usr2"
    server, port, key = start_server(args, pin=args.pin)
    if args.pin and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        runner = raw_measure if args.raw else idle_measure
        uvloop.run(runner(args, port, key, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--source", default="simulator:stress")
    parser.add_argument("--endpoint", default="market-trades")
    parser.add_argument("--params", default="markets=binance-*-spot")
    parser.add_argument("--raw", action="store_true", help="max fan-out, counting client")
    parser.add_argument("--idle", action="store_true", help="RSS per idle connection")
    parser.add_argument("--dialect", choices=sorted(MARKERS), default="coinmetrics")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, client on CPU 1")
    parser.add_argument(
        "--rate", default="max", help="--raw: the bench source's rate (msgs/s, or max)"
    )
    args = parser.parse_args()
    if args.raw or args.idle:
        raw_main(args)
        return
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
