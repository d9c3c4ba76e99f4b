"""Counting WebSocket clients and a bench server, shared by ``cm_fanout.py`` and
``vega_fanout.py`` (issue 20 points 1–3).

A ``RawCounter`` does not parse WebSocket frames or JSON: it counts one marker per delivered
message in the raw TCP stream (a marker split across two reads counts once), so one client
process keeps up with millions of deliveries per second. ``start_server`` runs ``tickcast
serve`` on a free port with a key whose plan admits every client.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import psutil

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
BENCH_MARKET = "bench-btc-usd-spot"


def start_server(
    clients: int, source: str, *, pin: bool = False, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], str, str]:
    """``tickcast serve`` on a free port (``pin``: on CPU 0, with ``taskset``), a ``pro`` key
    whose plan allows ``clients`` connections; ``env`` is added to the server's environment."""
    data = Path(tempfile.mkdtemp(prefix="raw-bench-"))
    config = data / "bench.toml"
    config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {clients + 4}\n')
    common = ["--data-dir", str(data), "--config", str(config)]
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "pro", *common],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    taskset = ["taskset", "-c", "0"] if pin and len(os.sched_getaffinity(0)) > 1 else []
    server = subprocess.Popen(
        [*taskset, *TICKCAST, "serve", "--port", "0", "--source", source,
         "--log-level", "warning", *common],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {})},
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


def _split_count(data: bytes, marker: bytes, tail: bytes) -> int:
    """Markers in ``data``, counting one that began in ``tail`` (the previous read's end)."""
    return data.count(marker) + (tail + data[: len(marker) - 1]).count(marker)


class RawCounter(asyncio.Protocol):
    """Counts ``marker`` in the bytes received after the upgrade; ``cut`` (optional) is the
    marker of the server's cut-off message (``self.cut`` once seen)."""

    def __init__(
        self, request: bytes, marker: bytes, ready: asyncio.Future[None], cut: bytes = b""
    ) -> None:
        self.request, self.marker, self.ready, self.cut_marker = request, marker, ready, cut
        self.keep = max(len(marker), len(cut)) - 1
        self.head = b""
        self.upgraded = False
        self.tail = b""
        self.count = 0
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
        self.count += _split_count(data, self.marker, self.tail[-(len(self.marker) - 1) :])
        if self.cut_marker and not self.cut:
            self.cut = _split_count(data, self.cut_marker, self.tail) > 0
        self.tail = data[-self.keep :] if self.keep else b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))


def upgrade_request(port: str, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def open_raw(
    port: str, path: str, marker: bytes, n: int, cut: bytes = b""
) -> list[RawCounter]:
    """``n`` counting clients on ``path``, at most 32 handshakes in flight."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(32)

    async def one() -> RawCounter:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            request = upgrade_request(port, path)
            _, counter = await loop.create_connection(
                lambda: RawCounter(request, marker, ready, cut), "127.0.0.1", int(port)
            )
            await asyncio.wait_for(ready, 60)
            return counter

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def count_window(
    counters: list[RawCounter], process: psutil.Process, warmup: float, duration: float
) -> dict[str, float | int]:
    """After ``warmup`` s, the deliveries counted over ``duration`` s, and the CPU of the
    server (``process``) and of this client over that window."""
    await asyncio.sleep(warmup)
    before = [c.count for c in counters]
    cpu0, own0, t0 = sum(process.cpu_times()[:2]), sum(os.times()[:2]), time.monotonic()
    await asyncio.sleep(duration)
    after = [c.count for c in counters]
    cpu1, own1, t1 = sum(process.cpu_times()[:2]), sum(os.times()[:2]), time.monotonic()
    elapsed = t1 - t0
    window = [b - a for a, b in zip(before, after, strict=True)]
    delivered, cpu = sum(window) / elapsed, (cpu1 - cpu0) / elapsed
    return {
        "clients": len(counters),
        "open_at_end": sum(not c.closed for c in counters),
        "cut": sum(c.cut for c in counters),
        "delivered_per_s": delivered,
        "per_client_min": min(window) / elapsed,
        "per_client_max": max(window) / elapsed,
        "server_cpu_pct": 100 * cpu,
        "delivered_per_cpu_s": delivered / cpu if cpu else 0.0,
        "server_rss_mb": process.memory_info().rss / 1e6,
        "client_cpu_pct": 100 * (own1 - own0) / elapsed,
    }


async def idle_kb(
    process: psutil.Process, port: str, path: str, marker: bytes, n: int
) -> dict[str, float | int]:
    """RSS per idle connection: ``n`` clients on ``path`` (nothing published), RSS read 1 s
    before the first handshake and 2 s after the last."""
    await asyncio.sleep(1.0)
    rss0 = process.memory_info().rss
    counters = await open_raw(port, path, marker, n)
    await asyncio.sleep(2.0)
    rss1 = process.memory_info().rss
    return {
        "idle_clients": sum(not c.closed for c in counters),
        "idle_kb_per_conn": (rss1 - rss0) / 1024 / n,
    }
