"""The threaded writer: batches off the loop, bounded memory, flush on stop, crash bound."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tickcast.clock import ManualClock
from tickcast.history.retention import DAY_NS, RetentionPolicy
from tickcast.history.sqlite import SqliteHistory
from tickcast.history.sqlite_segments import stored_seqs
from tickcast.history.writer import HistoryWriter
from tickcast.model import Envelope, Side, Trade

STREAM = "trades:binance-btc-usdt-spot"
T0 = 1_767_225_600_000_000_000


def envelopes(first: int, count: int, *, time_ns: int = T0) -> list[Envelope]:
    return [
        Envelope(STREAM, seq, "e1", Trade(STREAM[7:], str(seq), 1, 1, Side.SELL, time_ns + seq), 0)
        for seq in range(first, first + count)
    ]


async def count_rows(path: Path) -> int:
    store = SqliteHistory(path)
    await store.open()
    try:
        return len(await store.range(STREAM, None, None, limit=1_000_000))
    finally:
        await store.close()


async def test_nothing_is_written_until_a_batch_is_due(tmp_path: Path) -> None:
    """``add`` only queues; ``sync`` writes everything added before it, in one batch."""
    path = tmp_path / "h.sqlite3"
    writer = HistoryWriter(lambda: SqliteHistory(path), clock=ManualClock(), flush_interval=3600)
    await asyncio.wrap_future(writer.start())
    writer.add(envelopes(1, 10))
    writer.add(envelopes(11, 5))
    assert await count_rows(path) == 0
    await asyncio.wrap_future(writer.sync())
    assert await count_rows(path) == 15 and writer.written == 15
    writer.add(envelopes(16, 3))
    await asyncio.to_thread(writer.stop)  # stop writes what is pending
    assert await count_rows(path) == 18


async def test_pending_events_are_bounded_and_drops_counted(tmp_path: Path) -> None:
    """Beyond ``max_pending`` unwritten events, new batches are dropped and counted."""
    path = tmp_path / "h.sqlite3"
    writer = HistoryWriter(
        lambda: SqliteHistory(path), clock=ManualClock(), flush_interval=3600, max_pending=20,
        max_batch=10_000,
    )  # fmt: skip
    await asyncio.wrap_future(writer.start())
    writer.add(envelopes(1, 15))
    writer.add(envelopes(16, 10))  # 25 > 20: dropped
    writer.add(envelopes(26, 5))
    await asyncio.wrap_future(writer.sync())
    await asyncio.to_thread(writer.stop)
    assert (writer.written, writer.dropped) == (20, 10)


async def test_unstorable_events_are_skipped_and_batches_are_chunked(tmp_path: Path) -> None:
    """An event with an integer beyond 64 bits is skipped and counted, the rest of its batch is
    written; pending events are written in transactions of at most ``max_batch`` rows."""
    path = tmp_path / "h.sqlite3"
    writer = HistoryWriter(
        lambda: SqliteHistory(path), clock=ManualClock(), flush_interval=3600, max_batch=4
    )
    await asyncio.wrap_future(writer.start())
    poison = Envelope(STREAM, 4, "e1", Trade(STREAM[7:], "p", 2**70, 1, Side.BUY, T0), 0)
    writer.add([*envelopes(1, 3), poison, *envelopes(5, 6)])
    await asyncio.wrap_future(writer.sync())
    await asyncio.to_thread(writer.stop)
    assert (writer.written, writer.skipped, writer.failures) == (9, 1, 0)
    assert await count_rows(path) == 9


async def test_retention_runs_on_the_writer_thread(tmp_path: Path) -> None:
    """Rows older than their kind's retention are removed between batches."""
    path = tmp_path / "h.sqlite3"
    clock = ManualClock(start_ns=T0 + 10 * DAY_NS)
    writer = HistoryWriter(
        lambda: SqliteHistory(path), clock=clock, flush_interval=3600,
        retention=RetentionPolicy.parse("trades=2d"), retention_interval=0,
    )  # fmt: skip
    await asyncio.wrap_future(writer.start())
    writer.add(envelopes(1, 5, time_ns=T0))  # 10 days old
    writer.add(envelopes(6, 5, time_ns=T0 + 9 * DAY_NS))  # 1 day old
    await asyncio.wrap_future(writer.sync())
    await asyncio.wrap_future(writer.sync())  # the expiry pass follows the first batch
    await asyncio.to_thread(writer.stop)
    assert await count_rows(path) == 5


def test_retention_policy_parsing() -> None:
    """Defaults, overrides, forever and refusals."""
    policy = RetentionPolicy.parse("book=3d, trades=forever,quotes=12h")
    assert policy.keep_ns["book"] == 3 * DAY_NS and policy.keep_ns["trades"] is None
    assert policy.keep_ns["candles"] == 30 * DAY_NS
    assert policy.cutoffs(100 * DAY_NS)["quotes"] == 100 * DAY_NS - DAY_NS // 2
    assert "trades" not in policy.cutoffs(100 * DAY_NS)
    for bad in ("book", "bogus=1d", "book=3w", "book=-1d"):
        with pytest.raises(ValueError):
            RetentionPolicy.parse(bad)


CHILD = """
import asyncio, sys
from tickcast.clock import SystemClock
from tickcast.history.retention import RetentionPolicy
from tickcast.history.sqlite import SqliteHistory
from tickcast.history.writer import HistoryWriter
from tests.unit.history.test_writer import envelopes

async def main() -> None:
    writer = HistoryWriter(lambda: SqliteHistory(sys.argv[1]), clock=SystemClock(),
                           flush_interval=3600, retention=RetentionPolicy.parse("trades=0"))
    await asyncio.wrap_future(writer.start())
    seq = 1
    while True:
        writer.add(envelopes(seq, 2_000))
        seq += 2_000
        await asyncio.wrap_future(writer.sync())
        print(seq - 1, flush=True)
        writer.add(envelopes(seq, 2_000))  # queued, unflushed: may be lost
        seq += 2_000

asyncio.run(main())
"""


def test_sigkill_during_writes_loses_at_most_the_unflushed_batch(tmp_path: Path) -> None:
    """A writer killed mid-stream leaves a consistent store holding a dense prefix that
    includes every batch it had confirmed."""
    path = tmp_path / "h.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).parents[3],
    )  # fmt: skip
    assert child.stdout is not None
    confirmed = 0
    while confirmed < 40_000:
        confirmed = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    seqs = stored_seqs(db)
    db.close()
    assert seqs == list(range(1, len(seqs) + 1))
    assert confirmed <= len(seqs) <= confirmed + 2 * 2_000 + 2_000
