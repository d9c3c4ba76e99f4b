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
import json
import os
import subprocess
import time

import psutil
import rawclients
from websockets.asyncio.client import connect


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
    return rawclients.start_server(args.clients, args.source, pin=pin)


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
BENCH_MARKET = rawclients.BENCH_MARKET


def _stream_path(dialect: str, key: str) -> str:
    if dialect == "native":
        return f"/api/v1/ws?api_key={key}&streams=trades:{BENCH_MARKET}"
    return f"/v4/timeseries-stream/market-trades?api_key={key}&markets={BENCH_MARKET}"


async def raw_measure(
    args: argparse.Namespace, port: str, key: str, process: psutil.Process
) -> None:
    """Max deliveries/s to N raw clients of one dialect on the bench stream."""
    path, marker = _stream_path(args.dialect, key), MARKERS[args.dialect]
    counters = await rawclients.open_raw(port, path, marker, args.clients)
    window = await rawclients.count_window(counters, process, args.warmup, args.duration)
    window.pop("cut"), window.pop("delivered_per_cpu_s")
    print(json.dumps({"dialect": args.dialect, **window}))


async def idle_measure(
    args: argparse.Namespace, port: str, key: str, process: psutil.Process
) -> None:
    """RSS per idle connection: N connections to a stream on which nothing is published."""
    path, marker = _stream_path(args.dialect, key), MARKERS[args.dialect]
    idle = await rawclients.idle_kb(process, port, path, marker, args.clients)
    note = "RSS after - before, 2 s after the last handshake"
    print(json.dumps({"dialect": args.dialect, **idle, "tasks_note": note}))


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
