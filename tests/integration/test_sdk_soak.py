"""The SDK in stress mode: checksums hold, resume is gap-free, long outages are reported.

Runs for TICKCAST_SOAK_SECONDS (default 150 s) in three phases around two network cuts made by a
real TCP proxy between the SDK and the server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict

import pytest
from tests.integration.proxy import CuttableProxy

from tickcast.client import ChecksumMismatch, Client, Gap, Reconnected, Reset, Snapshot, Update

MARKETS = (
    "binance-btc-usdt-spot",
    "binance-eth-usdt-spot",
    "coinbase-btc-usd-spot",
    "kraken-sol-usd-spot",
    "binance-BTCUSDT-future",
)
STREAMS = [f"{kind}:{market}" for market in MARKETS for kind in ("book", "trades")]
HISTORY = 200
SOAK = float(os.environ.get("TICKCAST_SOAK_SECONDS", "150"))


class Ledger:
    """Everything the SDK yielded, checked as it arrives."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.gaps: list[Gap] = []
        self.resets: list[str] = []
        self.snapshots: list[Snapshot] = []
        self.mismatches: list[ChecksumMismatch] = []
        self.reconnects = 0
        self.updates = defaultdict(int)
        self.checked_books = 0

    def take(self, message: object) -> None:
        match message:
            case Update(stream=stream, seq=seq):
                last = self.last.get(stream)
                assert last is None or seq == last + 1, f"{stream}: {last} → {seq}"
                self.last[stream] = seq
                self.updates[stream] += 1
                if stream.startswith("book:") and message.checksum is not None:
                    self.checked_books += 1
            case Snapshot(stream=stream, seq=seq):
                self.snapshots.append(message)
                self.last[stream] = seq
            case Gap(stream=stream, from_seq=low, to_seq=high):
                assert self.last.get(stream, 0) + 1 == low, f"{stream} gap starts at {low}"
                self.gaps.append(message)
                self.last[stream] = high
            case Reset(stream=stream):
                self.resets.append(stream)
            case ChecksumMismatch():
                self.mismatches.append(message)
            case Reconnected():
                self.reconnects += 1


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.soak
async def test_sdk_soak_checksums_resume_and_outages(start_server) -> None:
    """Stress mode, 5 markets: every checksum holds; a short cut resumes with no gap and no
    duplicate; an outage longer than the history window yields reset books and trade Gaps."""
    # the in-memory resume window only: with the durable history on (the default), an outage
    # longer than the window is replayed from the store instead of a Gap (docs/history.md)
    server = await start_server(sources="simulator:stress", history_size=HISTORY, history="off")
    key = await server.key("pro")
    proxy = CuttableProxy(server.host, server.port)
    await proxy.start()
    ledger = Ledger()
    phase = SOAK / 3
    try:
        async with Client(
            f"ws://127.0.0.1:{proxy.port}", key, min_backoff=0.05, max_backoff=0.2
        ) as client:
            task = asyncio.create_task(drain(client, ledger))
            await asyncio.sleep(phase)
            await wait_for(lambda: all(s in ledger.last for s in STREAMS), 30, "all streams")

            proxy.cut()  # short cut: reconnect well within the history window
            await wait_for(lambda: ledger.reconnects == 1, 10, "the first reconnect")
            await asyncio.sleep(phase)
            assert ledger.gaps == [] and ledger.resets == [] and ledger.mismatches == []
            short_cut_snapshots = len(ledger.snapshots)

            proxy.blocked = True  # long outage: let every stream run past its history
            proxy.cut()
            marks = {s: await server.node.bus.position(s) for s in STREAMS}
            await wait_for(
                lambda: all(
                    server.node.bus._last.get(s, 0) > marks[s].seq + HISTORY + 10 for s in STREAMS
                ),
                120,
                "streams to outrun the history window",
            )
            proxy.blocked = False
            await wait_for(lambda: ledger.reconnects == 2, 30, "the second reconnect")
            await wait_for(
                lambda: len(ledger.gaps) >= 5 and len(ledger.resets) >= 5,
                30,
                "gap notices and resets",
            )
            await asyncio.sleep(phase)
            task.cancel()
            stats = client.stats
    finally:
        await proxy.stop()
    assert ledger.mismatches == [] and stats.mismatches == 0
    assert ledger.checked_books > 1000, "too few checksummed book updates to mean anything"
    assert short_cut_snapshots == len(MARKETS), "the short cut must not have needed snapshots"
    assert sorted(g.stream for g in ledger.gaps) == sorted(
        s for s in STREAMS if s.startswith("trades:")
    )
    assert all(g.reason == "history" for g in ledger.gaps)
    assert sorted(ledger.resets) == sorted(s for s in STREAMS if s.startswith("book:"))
    reset_snapshots = [s for s in ledger.snapshots if s.reset]
    assert sorted(s.stream for s in reset_snapshots) == sorted(ledger.resets)
    print(
        f"\nsoak: {sum(ledger.updates.values())} updates, {ledger.checked_books} checksummed book "
        f"updates, {len(ledger.gaps)} gaps, {len(ledger.resets)} resets, stats {stats}"
    )


async def drain(client: Client, ledger: Ledger) -> None:
    async for message in client.subscribe(STREAMS):
        ledger.take(message)
