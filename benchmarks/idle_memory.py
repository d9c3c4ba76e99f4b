#!/usr/bin/env python3
"""Idle memory per connection, every dialect (issue 20 point 2).

Starts ``tickcast serve`` (``--source bench:rate=50,start=usr2``: the publisher never starts)
with a key of the ``bench`` plan (no practical connection limit) on a temporary data dir, reads its
RSS, opens ``--conns`` idle connections from this process with a raw asyncio WebSocket client
(native: subscribed to ``trades:bench-btc-usd-spot`` in the URL, as the fan-out harness does;
``/ws``: the key sent as the first frame and its reply read), waits ``--settle`` seconds, reads
the RSS again and prints (RSS with N idle connections - RSS before any client) / N, as
``benchmarks/compare.py`` does. The server is pinned to CPU 0 when ``taskset`` exists.

    .venv/bin/python benchmarks/idle_memory.py                       # both dialects, 2,000
    .venv/bin/python benchmarks/idle_memory.py --dialects ws --conns 500 --json out.jsonl
    .venv/bin/python benchmarks/idle_memory.py --dialects native,coinmetrics,vega,sio,ws --tasks

The other dialects (``--dialects``): ``coinmetrics`` (``/v4/timeseries-stream/market-trades`` on
the bench market; the server says nothing until a trade), ``vega`` (``/api/v2/stream/trades``;
nothing until a block with a trade), ``sio`` (the Socket.IO feed: Engine.IO over WebSocket, the
namespace ``/api-ws`` joined with the key; its open packet is read). ``--tasks``: the server runs
under ``benchmarks/taskprobe.py`` and the record also gives the asyncio tasks of its loop before
and with the idle connections, and (with - before) / N (no task per idle connection: 0).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
STREAM = "trades:bench-btc-usd-spot"
ROUTES = {  # dialect → (path, first client frame, whether the server answers at once)
    "native": ("/api/v1/ws?api_key={key}&streams=" + STREAM, None, True),
    "ws": ("/ws", "{key}", True),
    "coinmetrics": (
        "/v4/timeseries-stream/market-trades?api_key={key}&markets=bench-btc-usd-spot",
        None,
        False,
    ),
    "vega": ("/api/v2/stream/trades", None, False),
    "sio": ("/socket.io/?EIO=4&transport=websocket", '40/api-ws,{{"apiKey":"{key}"}}', True),
}
PROBE = Path(__file__).resolve().parent / "taskprobe.py"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(data: Path, *, probe: bool = False) -> tuple[subprocess.Popen[bytes], int, str]:
    config = data / "bench.toml"
    config.write_text('[server]\nlog_level = "warning"\nvega_max_streams_per_address = 100000\n')
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "bench", "--data-dir", str(data),
         "--config", str(config)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    launcher = [sys.executable, str(PROBE)] if probe else TICKCAST
    server = subprocess.Popen(
        [*pin, *launcher, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data),
         "--config", str(config), "--source", "bench:rate=50,start=usr2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert server.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        match = re.search(r"listening on http://[0-9.]+:([0-9]+)", line)
        if match:
            return server, int(match.group(1)), key
    server.kill()
    raise SystemExit("server did not start")


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + mask + body


async def open_idle(
    port: int, path: str, first: bytes | None, reply: bool = True
) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    nonce = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
        "\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(head.decode(errors="replace"))
    if first is not None:
        writer.write(masked_text(first))
    if reply:
        await reader.read(2)  # the first server frame (Subscribed, the key's reply, EIO open)
    return writer


def open_connections(port: int) -> int:
    """The server's own count of open connections (``tickcast_connections``, every dialect)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return round(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("tickcast_connections{")))  # fmt: skip


def task_count(server: subprocess.Popen[bytes], out: Path) -> int | None:
    """The server's asyncio tasks (``taskprobe``: SIGUSR1, it writes the count to ``out``)."""
    out.unlink(missing_ok=True)
    server.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if out.exists():
            return int(out.read_text())
        time.sleep(0.05)
    return None


async def measure(
    dialect: str, conns: int, settle: float, tasks: bool = False
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tickcast-idle-") as tmp:
        probe_out = Path(tmp) / "tasks"
        os.environ["TASKPROBE_OUT"] = str(probe_out)
        server, port, key = start_server(Path(tmp), probe=tasks)
        writers: list[asyncio.StreamWriter] = []
        try:
            await asyncio.sleep(1.0)
            base = rss_kb(server.pid)
            tasks_base = task_count(server, probe_out) if tasks else None
            template, first_template, reply = ROUTES[dialect]
            path = template.format(key=key)
            first = first_template.format(key=key).encode() if first_template else None
            started = time.monotonic()
            for start in range(0, conns, 64):  # at most 64 handshakes in flight, as wsload
                batch = min(64, conns - start)
                writers += await asyncio.gather(
                    *(open_idle(port, path, first, reply) for _ in range(batch))
                )
            connect_s = time.monotonic() - started
            await asyncio.sleep(settle)
            idle = rss_kb(server.pid)
            tasks_idle = task_count(server, probe_out) if tasks else None
            open_at_end = open_connections(port)
        finally:
            for writer in writers:
                writer.close()
            server.send_signal(signal.SIGKILL)
            server.wait()
    return {
        "dialect": dialect,
        "conns": conns,
        "rss_base_kb": base,
        "rss_idle_kb": idle,
        "idle_kb_per_conn": round((idle - base) / conns, 2),
        "connect_s": round(connect_s, 2),
        "server_connections": open_at_end,
        **({} if not tasks else {
            "tasks_base": tasks_base, "tasks_idle": tasks_idle,
            "tasks_per_conn": None if tasks_base is None or tasks_idle is None
            else round((tasks_idle - tasks_base) / conns, 3),
        }),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialects", default="native,ws")
    parser.add_argument("--conns", type=int, default=2_000)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before the idle read")
    parser.add_argument("--json", help="append one JSON record per dialect to this file")
    parser.add_argument("--tasks", action="store_true", help="count the server's asyncio tasks")
    args = parser.parse_args()
    for dialect in args.dialects.split(","):
        record = asyncio.run(measure(dialect, args.conns, args.settle, args.tasks))
        print(json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
