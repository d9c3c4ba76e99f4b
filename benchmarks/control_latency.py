#!/usr/bin/env python3
"""Control-plane latency while ingest saturates a core (issue 20 point 5).

Starts ``tickcast serve`` (the real server: uvicorn, uvloop) with a simulator asked for more
events per second than one core can produce (``--rate``, default 100,000), waits until it is
ready, then for ``--seconds`` requests ``/metrics``, ``/healthz`` and ``/api/v1/markets`` one
after another, every ``--interval`` seconds, and prints each path's latency (p50, p99, max), the
server's CPU share (from /proc) and the events it published per second meanwhile (from
``tickcast_events_published``). The target: every answer within 50 ms.

``--rotate`` starts each round with the next path: the first request after the pause is the one
most likely to meet a pause the server began meanwhile (so without it ``/metrics``, always
first, collects most of the tail whatever its own cost).

Usage::

    .venv/bin/python benchmarks/control_latency.py [--rate 100000] [--seconds 15] [--json out]
        [--rotate] [--gc]

Run it against another checkout with ``PYTHONPATH=<checkout>/src`` (the server is started with
this interpreter, so it imports whatever ``tickcast`` that interpreter finds first).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

PATHS = ("/metrics", "/healthz", "/api/v1/markets")
TARGET_MS = 50.0
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(rate: int, port: int, history: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryDirectory() as data_dir:
        command = [
            sys.executable, "-c", "from tickcast.cli.main import main; main()", "serve",
            "--port", str(port), "--data-dir", data_dir, "--log-level", "warning",
            "--source", f"simulator:rate={rate}",
        ]  # fmt: skip
        environ = {**os.environ, "TICKCAST_HISTORY": history}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=environ)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one GET on a fresh connection, as a scraper would."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, body, time.perf_counter() - started


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if get(port, "/healthz")[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not get ready")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def published(body: bytes) -> float:
    match = re.search(rb"^tickcast_events_published_total (\S+)$", body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def gc_pauses(body: bytes) -> dict[str, dict[str, float]]:
    """``tickcast_gc_pause_seconds`` per generation: count, sum, and how many took > 50 ms
    (a server without the histogram gives {})."""
    found: dict[str, dict[str, float]] = {}
    pattern = (
        rb"^tickcast_gc_pause_seconds_(count|sum|bucket)"
        rb'\{generation="(\d)"(?:,le="([^"]+)")?\} (\S+)$'
    )
    for kind, generation, bound, value in re.findall(pattern, body, re.MULTILINE):
        entry = found.setdefault(generation.decode(), {"count": 0.0, "sum_s": 0.0, "le_50ms": 0.0})
        if kind == b"count":
            entry["count"] = float(value)
        elif kind == b"sum":
            entry["sum_s"] = float(value)
        elif bound == b"0.05":
            entry["le_50ms"] = float(value)
    return found


def gc_during(first: bytes, last: bytes) -> dict[str, dict[str, float]]:
    """The collections between two scrapes, per generation: count, seconds, over 50 ms."""
    before, after = gc_pauses(first), gc_pauses(last)
    result = {}
    for generation, end in after.items():
        start = before.get(generation, {"count": 0.0, "sum_s": 0.0, "le_50ms": 0.0})
        count = end["count"] - start["count"]
        result[generation] = {
            "count": count,
            "seconds": round(end["sum_s"] - start["sum_s"], 3),
            "over_50ms": count - (end["le_50ms"] - start["le_50ms"]),
        }
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(
    rate: int,
    seconds: float,
    interval: float,
    warmup: float,
    history: str,
    rotate: bool = False,
    gc_report: bool = False,
) -> dict[str, Any]:
    port = free_port()
    with server(rate, port, history) as process:
        wait_ready(port)
        time.sleep(warmup)  # let the simulator fall behind: its backlog is what saturates
        latencies: dict[str, list[float]] = {path: [] for path in PATHS}
        cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
        first_body = get(port, "/metrics")[1]
        first, last_body = published(first_body), first_body
        last, round_ = first, 0
        while time.perf_counter() - wall0 < seconds:
            shift = round_ % len(PATHS) if rotate else 0
            round_ += 1
            for path in PATHS[shift:] + PATHS[:shift]:
                status, body, elapsed = get(port, path)
                assert status == 200, (path, status)
                latencies[path].append(elapsed * 1000)
                if path == "/metrics":
                    last, last_body = published(body), body
            time.sleep(interval)
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds(process.pid) - cpu0
    result: dict[str, Any] = {
        "scenario": "control plane under ingest", "simulator_rate": rate,
        "history": history or "default", "load_average": round(os.getloadavg()[0], 1),
        "server_cpu": round(cpu / wall, 2), "events_per_s": round((last - first) / wall),
    }  # fmt: skip
    every: list[float] = []
    for path, values in latencies.items():
        every.extend(values)
        result[path] = {
            "n": len(values), "p50_ms": round(percentile(values, 0.5), 1),
            "p99_ms": round(percentile(values, 0.99), 1), "max_ms": round(max(values), 1),
        }  # fmt: skip
    result["max_ms"] = round(max(every), 1)
    result["within_target"] = max(every) <= TARGET_MS
    if rotate:
        result["rotate"] = True
    if gc_report:
        result["gc"] = gc_during(first_body, last_body)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100_000, help="simulator events/s asked")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=0.1, help="pause between rounds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--history", default="", help="TICKCAST_HISTORY (e.g. off)")
    parser.add_argument("--json", help="append the result as a JSON line to this file")
    parser.add_argument("--rotate", action="store_true", help="rotate which path goes first")
    parser.add_argument(
        "--gc", action="store_true", help="add the server's collections meanwhile (key gc)"
    )
    args = parser.parse_args()
    result = measure(
        args.rate, args.seconds, args.interval, args.warmup, args.history, args.rotate, args.gc
    )
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
