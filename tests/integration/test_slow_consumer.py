"""A client that stops reading: bounded server memory, no harm to other clients.

"No harm" is asserted as what can be checked deterministically: the other client's connection
never overflows and it receives every trade, dense in seq, while the stalled one is dropping.
Latency beside a stalled client is printed here and measured by the benchmarks
(docs/performance.md), not asserted: a timed assertion fails on a loaded machine."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from datetime import datetime

from tests.integration.wire import ASSETS, recv
from websockets.asyncio.client import connect

OUTBOX = 65_536


def _time_ns(text: str) -> int:
    seconds = datetime.fromisoformat(text[:19] + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int(text[20:29])


async def _latencies(ws, seconds: float, seqs: dict[str, list[int]] | None = None) -> list[float]:
    """Publish-to-receive latency (ms) of every trade received during ``seconds``; each trade's
    seq is appended to ``seqs[stream]``."""
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message["type"] != "Gap", message
        if message["type"] == "Update" and message["stream"].startswith("trades:"):
            samples.append((time.time_ns() - _time_ns(message["data"]["time"])) / 1e6)
            if seqs is not None:
                seqs.setdefault(message["stream"], []).append(message["seq"])
    return samples


async def _drain_until(ws, condition, timeout: float) -> None:
    """Keep reading (and discarding) until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await ws.recv()


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def test_slow_consumer_is_bounded_and_harmless(start_server) -> None:
    """A client that stops reading stays within its outbox budget and is dropped from, while
    another client on the same streams keeps getting every trade, in order, without overflow."""
    server = await start_server(sources="simulator:stress", outbox_bytes=OUTBOX)
    fast_key = await server.key("pro", user="fast")
    slow_key = await server.key("pro", user="slow")
    trades = ",".join(f"trades:binance-{asset}-usdt-spot" for asset in ASSETS)
    async with connect(
        f"{server.ws}?streams={trades}", additional_headers={"X-API-Key": fast_key}
    ) as fast:
        assert (await recv(fast))["type"] == "Subscribed"

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((server.host, server.port))
        everything = [f"{kind}:{m.id}" for m in server.node.catalog for kind in ("book", "trades")]
        async with connect(
            server.ws, sock=sock, max_queue=1, additional_headers={"X-API-Key": slow_key}
        ) as slow:
            await slow.send(json.dumps({"type": "Subscribe", "id": 1, "streams": everything}))

            async def read_forever() -> None:
                while True:
                    await slow.recv()

            reader = asyncio.create_task(read_forever())
            await _latencies(fast, 1.0)
            baseline = await _latencies(fast, 4.0)
            reader.cancel()
            slow_connection = None
            peak, dropping_seen = 0, False
            fast_checked, fast_overflowed = False, False

            async def watch() -> None:
                nonlocal slow_connection, peak, dropping_seen, fast_checked, fast_overflowed
                while True:
                    for connection in server.node.connections.values():
                        if connection.principal.user == "slow":
                            slow_connection = connection
                        elif connection.principal.user == "fast":
                            fast_checked = True
                            fast_overflowed = fast_overflowed or connection.outbox.overflowed
                    if slow_connection is not None:
                        outbox = slow_connection.outbox
                        peak = max(peak, outbox.pending_bytes)
                        dropping_seen = dropping_seen or outbox.overflowed
                    await asyncio.sleep(0.02)

            seqs: dict[str, list[int]] = {}
            watcher = asyncio.create_task(watch())
            try:
                await _drain_until(fast, lambda: dropping_seen, timeout=60)
                await _latencies(fast, 1.0)
                with_slow = await _latencies(fast, 4.0, seqs)
            finally:
                watcher.cancel()
                slow.transport.abort()
    print(
        f"\nfast client p99 latency: {_p99(baseline):.1f} ms beside a reading client, "
        f"{_p99(with_slow):.1f} ms beside a stalled client; stalled outbox peak {peak} bytes; "
        f"written to it {slow_connection.bytes if slow_connection else 0} bytes; "
        f"samples {len(baseline)} / {len(with_slow)}"
    )
    assert slow_connection is not None
    assert dropping_seen, "the stalled client never overflowed: the test did not stress it"
    assert peak <= OUTBOX
    assert len(baseline) > 50 and len(with_slow) > 50
    assert fast_checked and not fast_overflowed, "the reading client's outbox overflowed"
    for stream, received in seqs.items():
        assert received == list(range(received[0], received[0] + len(received))), stream
    assert sum(len(r) for r in seqs.values()) == len(with_slow)
