#!/usr/bin/env python3
"""Idle memory per connection: native ``/api/v1/ws`` and ``/ws`` predictions (issue 20 point 2).

Starts ``tickcast serve`` (``--source bench:rate=50,start=usr2``: the publisher never starts)
with a key of the ``bench`` plan (no practical connection limit) on a temporary data dir, reads its
RSS, opens ``--conns`` idle connections from this process with a raw asyncio WebSocket client
(native: subscribed to ``trades:bench-btc-usd-spot`` in the URL, as the fan-out harness does;
``/ws``: the key sent as the first frame and its reply read), waits ``--settle`` seconds, reads
the RSS again and prints (RSS with N idle connections - RSS before any client) / N, as
``benchmarks/compare.py`` does. The server is pinned to CPU 0 when ``taskset`` exists.

    .venv/bin/python benchmarks/idle_memory.py                       # both dialects, 2,000
    .venv/bin/python benchmarks/idle_memory.py --dialects ws --conns 500 --json out.jsonl
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
from pathlib import Path

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
STREAM = "trades:bench-btc-usd-spot"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    config = data / "bench.toml"
    config.write_text('[server]\nlog_level = "warning"\n')
    key = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", "bench", "--plan", "bench", "--data-dir", str(data),
         "--config", str(config)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    server = subprocess.Popen(
        [*pin, *TICKCAST, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data),
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


async def open_idle(port: int, path: str, first: bytes | None) -> asyncio.StreamWriter:
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
    await reader.read(2)  # the first server frame (Subscribed, or the key's reply)
    return writer


async def measure(dialect: str, conns: int, settle: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tickcast-idle-") as tmp:
        server, port, key = start_server(Path(tmp))
        writers: list[asyncio.StreamWriter] = []
        try:
            await asyncio.sleep(1.0)
            base = rss_kb(server.pid)
            if dialect == "native":
                path, first = f"/api/v1/ws?api_key={key}&streams={STREAM}", None
            else:
                path, first = "/ws", key.encode()
            started = time.monotonic()
            for start in range(0, conns, 64):  # at most 64 handshakes in flight, as wsload
                batch = min(64, conns - start)
                writers += await asyncio.gather(
                    *(open_idle(port, path, first) for _ in range(batch))
                )
            connect_s = time.monotonic() - started
            await asyncio.sleep(settle)
            idle = rss_kb(server.pid)
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialects", default="native,ws")
    parser.add_argument("--conns", type=int, default=2_000)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before the idle read")
    parser.add_argument("--json", help="append one JSON record per dialect to this file")
    args = parser.parse_args()
    for dialect in args.dialects.split(","):
        record = asyncio.run(measure(dialect, args.conns, args.settle))
        print(json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
