#!/usr/bin/env python3
"""Prediction benchmark: request→reply latency over ``/ws`` and requests per second.

Starts ``tickcast serve`` in its own process (simulator off) on a temporary data dir, creates a
``pro`` key (the plan's connection limit lifted by a config file) and trains the model with
``tickcast models train`` from a generated CSV, then measures from this process (the client,
``websockets`` asyncio library):

* 1 connection: ``--requests`` sequential requests, each sent when the previous reply arrived;
* 1 connection, paced: ``--paced-requests`` requests with ``--pause-ms`` (1 ms) between a reply
  and the next request, as a bot asking on a fast interval does (requests/s then counts the
  pauses too);
* ``--connections`` (50) connections at once, each sending sequentially for ``--duration`` s.

Latency is the client's wall time from ``send`` to the matching reply (client library
included). Prints p50/p99/p99.9/max in milliseconds and requests/s per scenario, and the CPU
the server and the client spent per request in each scenario's measured window (µs of CPU per
request: steadier than wall-clock figures on a shared machine).

``--client raw`` measures with ``predict_raw.RawPredictClient`` instead (an asyncio protocol,
no task, the request frame masked once): the part of the latency that is the ``websockets``
client's own cost; ``--loop uvloop`` runs the client on uvloop. ``--pin`` runs the server on
CPU 0 and this client on CPU 1 (``taskset``).

Usage::

    .venv/bin/python benchmarks/predict.py
    .venv/bin/python benchmarks/predict.py --algorithm random_forest --connections 20 --json
    .venv/bin/python benchmarks/predict.py --client raw --pin

Everything runs on 127.0.0.1; the server is always stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil
from predict_raw import RawPredictClient, open_raw
from websockets.asyncio.client import ClientConnection, connect

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
FEATURES = ("point1", "point2", "point3", "point4")


def write_csv(path: Path, rows: int) -> None:
    lines = [",".join((*FEATURES, "label"))]
    for i in range(rows):
        values = [(i * (k + 3)) % (11 + k) for k in range(len(FEATURES))]
        label = "buy" if values[0] + values[1] > values[2] + values[3] else "sell"
        lines.append(",".join(map(str, (*values, label))))
    path.write_text("\n".join(lines) + "\n")


def run(*args: str) -> str:
    done = subprocess.run([*TICKCAST, *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"tickcast {args[0]} failed: {done.stderr}")
    return done.stdout


def start_server(
    data: Path, connections: int, *, pin: bool = False
) -> tuple[subprocess.Popen[bytes], str, str]:
    config = data / "bench.toml"
    config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {connections + 8}\n')
    key = run("keys", "create", "--user", "bench", "--plan", "pro", "--data-dir", str(data),
              "--config", str(config)).strip()  # fmt: skip
    log = open(data / "server.log", "wb")
    taskset = ["taskset", "-c", "0"] if pin else []
    server = subprocess.Popen(
        [*taskset, *TICKCAST, "serve", "--host", "127.0.0.1", "--port", "0", "--source", "none",
         "--data-dir", str(data), "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        match = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
        if match:
            base = match.group(1)
            break
        if server.poll() is not None:
            raise SystemExit(f"server exited: see {data / 'server.log'}")
    else:
        raise SystemExit("server did not start within 60 s")
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return server, base, key
        time.sleep(0.1)
    raise SystemExit("server not healthy within 60 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def request_text(key: str, points: int) -> str:
    data = [{name: (i + k) % 7 for k, name in enumerate(FEATURES)} for i in range(points)]
    return json.dumps(
        {"api_key": key, "strat_name": "bench", "model_name": "model", "model_type": "class",
         "DataPoints": data}
    )  # fmt: skip


async def open_connection(url: str, key: str) -> ClientConnection:
    ws = await connect(url, max_queue=None)
    await ws.send(key)
    reply = json.loads(await ws.recv())
    if reply.get("message") != "Valid API key.":
        raise SystemExit(f"authentication failed: {reply}")
    return ws


async def sequential(
    ws: ClientConnection, text: str, *, count: int, until: float, pause: float = 0.0
) -> list[int]:
    """Send, wait for the reply, (pause,) repeat; latencies in ns."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    while len(latencies) < count and time.monotonic() < until:
        started = clock()
        await ws.send(text)
        reply = await ws.recv()
        latencies.append(clock() - started)
        if b'"success"' not in (reply if isinstance(reply, bytes) else reply.encode()):
            raise SystemExit(f"unexpected reply: {reply!r}")
        if pause:
            await asyncio.sleep(pause)
    return latencies


def summary(name: str, latencies: list[int], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {
        "scenario": name,
        "requests": len(ordered),
        "p50_ms": round(pct(0.50), 3),
        "p99_ms": round(pct(0.99), 3),
        "p99_9_ms": round(pct(0.999), 3),
        "max_ms": round(ordered[-1] / 1e6, 3),
        "requests_per_s": round(len(ordered) / seconds),
    }


async def run_raw(
    client: RawPredictClient, text: str, *, count: int, until: float, pause: float = 0.0
) -> list[int]:
    return await client.run(text, count=count, until=until, pause=pause)


async def close_all(sockets: list[Any]) -> None:
    for ws in sockets:
        if isinstance(ws, RawPredictClient):
            ws.close()
    await asyncio.gather(
        *(ws.close() for ws in sockets if not isinstance(ws, RawPredictClient)),
        return_exceptions=True,
    )


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def scenario(
    url: str, key: str, args: argparse.Namespace, n: int, *, pause: float = 0.0
) -> dict[str, Any]:
    text = request_text(key, args.points)
    raw = args.client == "raw"
    opener, loop_of = (open_raw, run_raw) if raw else (open_connection, sequential)
    sockets: list[Any] = [await opener(url, key) for _ in range(n)]
    server, client = psutil.Process(args.server_pid), psutil.Process()
    try:
        for ws in sockets:  # warm-up: model loaded and cached, code paths hot
            await loop_of(ws, text, count=args.warmup // n + 1, until=time.monotonic() + 30)
        cpu_before = cpu_seconds(server), cpu_seconds(client)
        started = time.perf_counter()
        if n == 1:
            until = time.monotonic() + args.duration * 10
            count = args.paced_requests if pause else args.requests
            results = [await loop_of(sockets[0], text, count=count, until=until, pause=pause)]
        else:
            until = time.monotonic() + args.duration
            results = await asyncio.gather(
                *(loop_of(ws, text, count=10**9, until=until) for ws in sockets)
            )
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(server) - cpu_before[0]
        client_cpu = cpu_seconds(client) - cpu_before[1]
    finally:
        await close_all(sockets)
    latencies = [value for result in results for value in result]
    name = f"{n} connection{'s' if n > 1 else ''}"
    if pause:
        name += f", {pause * 1000:g} ms pauses"
    result = summary(name, latencies, seconds)
    result["server_cpu_us_per_request"] = round(server_cpu / len(latencies) * 1e6, 1)
    result["client_cpu_us_per_request"] = round(client_cpu / len(latencies) * 1e6, 1)
    result["server_cpu_share"] = round(server_cpu / seconds, 3)
    return result


def run_loop(args: argparse.Namespace, main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """``main`` on the client's event loop: asyncio's own, or uvloop's (``--loop uvloop``)."""
    if args.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", default="decision_tree")
    parser.add_argument("--rows", type=int, default=2000, help="training rows")
    parser.add_argument("--points", type=int, default=1, help="DataPoints per request")
    parser.add_argument("--requests", type=int, default=20_000, help="1-connection requests")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="50-connection seconds")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument(
        "--pause-ms", type=float, default=1.0, help="pause between paced requests (0: skip)"
    )
    parser.add_argument("--paced-requests", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--client", choices=("websockets", "raw"), default="websockets",
        help="the client: the websockets library, or a lean asyncio protocol (predict_raw.py)",
    )  # fmt: skip
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the client's loop"
    )
    parser.add_argument(
        "--pin", action="store_true", help="server on CPU 0 and this client on CPU 1 (taskset)"
    )
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="tickcast-predict-bench-") as tmp:
        data = Path(tmp)
        write_csv(data / "train.csv", args.rows)
        trained = run("models", "train", "--user", "bench", "--strategy", "bench", "--name",
                      "model", "--type", "class", "--csv", str(data / "train.csv"), "--target",
                      "label", "--algorithm", args.algorithm, "--data-dir", str(data))  # fmt: skip
        pin = args.pin and len(os.sched_getaffinity(0)) > 1
        server, base, key = start_server(data, args.connections, pin=pin)
        args.server_pid = server.pid
        if pin:
            os.sched_setaffinity(0, {1})
        try:
            url = base.replace("http://", "ws://") + "/ws"
            results = [run_loop(args, scenario(url, key, args, 1))]
            if args.pause_ms > 0:
                pause = args.pause_ms / 1000
                results.append(run_loop(args, scenario(url, key, args, 1, pause=pause)))
            results.append(run_loop(args, scenario(url, key, args, args.connections)))
        finally:
            stop_server(server)
    meta = {"algorithm": args.algorithm, "points": args.points, "cpus": os.cpu_count(),
            "trained": trained.strip(), "load_before": load_before,
            "client": args.client, "client_loop": args.loop, "pinned": pin,
            "load_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return 0
    print(f"# /ws predictions: {args.algorithm}, {args.points} data point(s) per request, "
          f"{os.cpu_count()} CPUs (shared machine: figures vary with other load)")  # fmt: skip
    print(f"# {meta['trained']}")
    pinned = ", pinned (server CPU 0, client CPU 1)" if pin else ""
    print(f"# load average before {load_before}, after {meta['load_after']}; client "
          f"{args.client} on {args.loop}{pinned}")  # fmt: skip
    header = ("scenario", "requests", "p50_ms", "p99_ms", "p99_9_ms", "max_ms", "requests_per_s",
              "server_cpu_us_per_request", "client_cpu_us_per_request",
              "server_cpu_share")  # fmt: skip
    print("\t".join(header))
    for result in results:
        print("\t".join(str(result[column]) for column in header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
