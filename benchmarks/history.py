"""History-store benchmark (issue 17): write rate, one market-day range query, book at T, disk
bytes per event, and the cost of the history hook on the publishing loop.

Compares the embedded candidates on the same generated day (``--events`` trades of one market,
the bus codec's JSON as payload):

* SQLite (the chosen store, ``tickcast.history.sqlite.SqliteHistory``, WAL, one transaction per
  batch, events in columnar segments of up to 1 024 events per row);
* DuckDB, one table, one row per event, batches inserted from a pandas DataFrame;
* Parquet segments (zstd, one file per batch, written and queried by DuckDB).

Collector thresholds are the server's (``--gc server``, default) or the interpreter's
(``--gc default``). To measure the previous store layout with the same script, run it with
``PYTHONPATH`` pointing at an older checkout's ``src``.

    .venv/bin/python benchmarks/history.py                 # 1,000,000 trades, ~1 min
    .venv/bin/python benchmarks/history.py --events 200000 --book-events 50000
    .venv/bin/python benchmarks/history.py --only state    # a day of metrics: state as of T

Figures and method: docs/history.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tickcast.bus.memory import MemoryBus
from tickcast.clock import SystemClock
from tickcast.history.keyed import KeyedCheckpointer
from tickcast.history.retention import RetentionPolicy
from tickcast.history.rows import Row, rows_of
from tickcast.history.service import History
from tickcast.history.sqlite import SqliteHistory
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    Market,
    MarketCatalog,
    Side,
    Trade,
)
from tickcast.model.markets import MarketKind
from tickcast.state import BookChecksummer

MARKET = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 6)
TRADES, BOOK = f"trades:{MARKET.id}", f"book:{MARKET.id}"
METRICS = "metrics:btc"
DAY_NS = 86_400_000_000_000
T0 = 1_780_000_000_000_000_000 // DAY_NS * DAY_NS
BATCH = 50_000
GC_THRESHOLDS = (50_000, 20, 100)
"""The server's collector thresholds (tickcast.app.run.GC_THRESHOLDS): measured as it runs."""
ROUNDS = 5
"""Rounds of the hook benchmark (on and off interleaved; the machine may be shared)."""
FOREVER = RetentionPolicy({})
"""The generated day is in the past: keep it (default retention would expire it at once)."""


def trade_envelopes(count: int) -> list[Envelope]:
    rng = random.Random(1)
    step = DAY_NS // count
    return [
        Envelope(TRADES, seq, "bench",
                 Trade(MARKET.id, str(seq), 8_700_000 + rng.randrange(-5000, 5000),
                       rng.randrange(1, 10**6), Side.BUY if seq % 2 else Side.SELL,
                       T0 + seq * step), 0)
        for seq in range(1, count + 1)
    ]  # fmt: skip


def book_envelopes(count: int) -> list[Envelope]:
    rng = random.Random(2)
    step = DAY_NS // count
    events: list[Event] = [
        BookSnapshot(MARKET.id, tuple((870_000 - i, 10 + i) for i in range(100)),
                     tuple((870_001 + i, 10 + i) for i in range(100)), T0)
    ]  # fmt: skip
    for n in range(1, count):
        side = tuple(
            (870_000 - rng.randrange(150), rng.choice((0, rng.randrange(1, 999)))) for _ in range(2)
        )
        asks = tuple(
            (870_001 + rng.randrange(150), rng.choice((0, rng.randrange(1, 999)))) for _ in range(2)
        )
        events.append(BookDelta(MARKET.id, side, asks, T0 + n * step))
    annotated = BookChecksummer(catalog=MarketCatalog([MARKET])).annotate(events)
    return [Envelope(BOOK, seq, "bench", e, 0) for seq, e in enumerate(annotated, 1)]


def encode_all(envelopes: list[Envelope]) -> None:
    """Rows of every envelope in 1,000-event batches, as the writer thread makes them."""
    for at in range(0, len(envelopes), 1_000):
        rows_of([(envelopes[at : at + 1_000], 0)])


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def bench_sqlite(
    envelopes: list[Envelope], directory: Path, batch: int = BATCH
) -> dict[str, float]:
    store = SqliteHistory(directory / "history.sqlite3")
    await store.open()
    started = time.perf_counter()
    for at in range(0, len(envelopes), batch):
        await store.append(rows_of([(envelopes[at : at + batch], 0)]), [])
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = await store.range(TRADES, T0, T0 + DAY_NS, limit=10**9)
    query_s = time.perf_counter() - started
    assert len(rows) == len(envelopes)
    started = time.perf_counter()
    page = await store.range(TRADES, T0 + DAY_NS // 2, None, limit=10_000)
    page_s = time.perf_counter() - started
    assert len(page) == 10_000
    await store._run(store.db.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
    await store.close()
    return _result(len(envelopes), write_s, query_s, page_s, disk_bytes(directory))


def _result(
    count: int, write_s: float, query_s: float, page_s: float, size: int
) -> dict[str, float]:
    return {"write ev/s": count / write_s, "day query s": query_s, "10k page ms": page_s * 1e3,
            "bytes/event": size / count}  # fmt: skip


def frame(rows: list[Row], first_id: int) -> pd.DataFrame:
    return pd.DataFrame({
        "id": range(first_id, first_id + len(rows)), "stream": [1] * len(rows),
        "epoch": [1] * len(rows), "seq": [r.seq for r in rows],
        "time_ns": [r.time_ns for r in rows], "recv_ns": [r.recv_ns for r in rows],
        "data": [r.data for r in rows],
    })  # fmt: skip


QUERY = (
    "SELECT id, epoch, seq, time_ns, recv_ns, data FROM {} WHERE stream = 1"
    " AND time_ns BETWEEN {} AND {} ORDER BY time_ns, id"
)


def bench_duckdb(
    envelopes: list[Envelope], directory: Path, *, parquet: bool, batch: int = BATCH
) -> dict[str, float]:
    db = duckdb.connect(str(directory / "history.duckdb") if not parquet else ":memory:")
    if not parquet:
        db.execute("CREATE TABLE events (id BIGINT, stream INTEGER, epoch INTEGER, seq BIGINT,"
                   " time_ns BIGINT, recv_ns BIGINT, data BLOB)")  # fmt: skip
    started = time.perf_counter()
    for number, at in enumerate(range(0, len(envelopes), batch)):
        db.register("batch", frame(rows_of([(envelopes[at : at + batch], 0)]), at + 1))
        if parquet:
            target = directory / f"segment-{number:06d}.parquet"
            db.execute(f"COPY batch TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        else:
            db.execute("INSERT INTO events SELECT * FROM batch")
        db.unregister("batch")
    if not parquet:
        db.execute("CHECKPOINT")
    write_s = time.perf_counter() - started
    source = f"read_parquet('{directory}/*.parquet')" if parquet else "events"
    query_s, rows = timed(lambda: db.execute(QUERY.format(source, T0, T0 + DAY_NS)).fetchall())
    assert len(rows) == len(envelopes)
    page_s, page = timed(lambda: db.execute(
        QUERY.format(source, T0 + DAY_NS // 2, 2**62) + " LIMIT 10000").fetchall())  # fmt: skip
    assert len(page) == 10_000
    db.close()
    return _result(len(envelopes), write_s, query_s, page_s, disk_bytes(directory))


async def bench_book_at(
    envelopes: list[Envelope], directory: Path, samples: int
) -> dict[str, float]:
    history = History(
        lambda: SqliteHistory(directory / "books.sqlite3"), clock=SystemClock(), retention=FOREVER
    )
    await history.start()
    for at in range(0, len(envelopes), 5_000):
        history.add(envelopes[at : at + 5_000])
    await history.flushed()
    rng = random.Random(3)
    times = []
    for _ in range(samples):
        seq = rng.randrange(1, len(envelopes) + 1)
        started = time.perf_counter()
        state = await history.book_at(BOOK, envelopes[seq - 1].event.time_ns)
        times.append(time.perf_counter() - started)
        assert state is not None and state.seq == seq
        assert state.checksum == envelopes[seq - 1].event.checksum  # type: ignore[union-attr]
    await history.stop()
    return {"book_at p50 ms": statistics.median(times) * 1e3, "book_at max ms": max(times) * 1e3}


def metric_envelopes(count: int) -> list[Envelope]:
    """A day of one asset's metrics: four metrics, one of them updated per event."""
    names = ("PriceUSD", "ReferenceRateUSD", "SplyCur", "CapMrktCurUSD")
    step = DAY_NS // count
    return [
        Envelope(METRICS, seq, "bench",
                 AssetMetric("btc", names[seq % 4], 8_700_000 + seq % 997, 2, T0 + seq * step), 0)
        for seq in range(1, count + 1)
    ]  # fmt: skip


async def bench_state_at(
    envelopes: list[Envelope], directory: Path, samples: int, *, checkpoints: bool
) -> dict[str, float]:
    """The state of a keyed STATE stream (``metrics:``) as of a random time of a day: what a
    native time travel (``from: {time}``) reads before its Snapshot — the stream's last event
    at or before T and ``History.latest`` (keyed checkpoints plus the rows after the newest)."""
    keyed = None if checkpoints else KeyedCheckpointer(every_events=2**62, every_ns=2**62)
    path = directory / f"state-{checkpoints}.sqlite3"
    history = History(lambda: SqliteHistory(path), clock=SystemClock(), retention=FOREVER)
    if history.writer is not None and keyed is not None:
        history.writer._keyed = keyed  # only the first checkpoint (seq 1): the fold's worst case
    await history.start()
    for at in range(0, len(envelopes), 5_000):
        history.add(envelopes[at : at + 5_000])
    await history.flushed()
    rng = random.Random(5)
    times = []
    for _ in range(samples):
        time_ns = envelopes[rng.randrange(len(envelopes))].event.time_ns  # type: ignore[union-attr]
        started = time.perf_counter()
        newest = await history.range(METRICS, None, time_ns, limit=1, descending=True)
        state = await history.latest(METRICS, time_ns)
        times.append(time.perf_counter() - started)
        assert newest and len(state) == 4
    await history.stop()
    label = "checkpoints" if checkpoints else "no checkpoints"
    return {
        f"state_at p50 ms ({label})": statistics.median(times) * 1e3,
        f"state_at max ms ({label})": max(times) * 1e3,
    }


async def bench_hook(envelopes: list[Envelope], directory: Path) -> dict[str, float]:
    """Per-batch publish time on the loop (batches of 100 trades, a no-op listener, the loop
    yielding between batches) without and with the history hook while the writer thread
    encodes and writes concurrently; ROUNDS interleaved rounds each, the median round reported."""
    events = [e.event for e in envelopes[:200_000]]
    rounds: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for number in range(ROUNDS):
        for label in ("off", "on"):
            bus = MemoryBus(history_size=2_000)
            bus.listen(lambda batch: None)
            path = directory / f"hook-{label}-{number}.sqlite3"
            history = History(
                lambda path=path: SqliteHistory(path), clock=SystemClock(), retention=FOREVER
            )
            await history.start()
            times = []
            for at in range(0, len(events), 100):
                started = time.perf_counter()
                published = bus.publish_nowait(events[at : at + 100])
                if label == "on":
                    history.add(published)
                times.append(time.perf_counter() - started)
                await asyncio.sleep(0)
            await history.flushed()
            await history.stop()
            times.sort()
            rounds[label].append((times[len(times) // 2], times[int(len(times) * 0.99)]))
    result: dict[str, float] = {}
    for label, found in rounds.items():
        result[f"publish p50 us ({label})"] = statistics.median(p50 for p50, _ in found) * 1e6
        result[f"publish p99 us ({label})"] = statistics.median(p99 for _, p99 in found) * 1e6
    return result


async def bench_slow_streams(directory: Path, streams: int = 20, per_stream: int = 10_000) -> str:
    """Many slow streams: appends of 2 events per stream (the live case of quiet markets, a few
    events per 0.25 s flush), then one stream read whole."""
    names = [f"trades:m{n}-btc-usdt-spot" for n in range(streams)]
    envelopes = [
        Envelope(name, seq, "bench",
                 Trade(name[7:], str(seq), 100, 1, Side.BUY, T0 + seq * 1_000 + n), 0)
        for seq in range(1, per_stream + 1) for n, name in enumerate(names)
    ]  # fmt: skip
    rows = rows_of([(envelopes, 0)])
    store = SqliteHistory(directory / "slow.sqlite3")
    await store.open()
    write_s, _ = await timed_async(lambda: _append_all(store, rows, 2 * streams))
    read_s, found = await timed_async(lambda: store.range(names[3], None, None, limit=10**9))
    assert [row.seq for row in found] == list(range(1, per_stream + 1))
    await store.close()
    return (
        f"{len(rows) / write_s:,.0f} ev/s in appends of {2 * streams} rows over {streams}"
        f" streams; one stream ({per_stream:,} events) read in {read_s * 1e3:.1f} ms"
    )


async def _append_all(store: SqliteHistory, rows: list[Row], batch: int) -> None:
    for at in range(0, len(rows), batch):
        await store.append(rows[at : at + batch], [])


async def timed_async(function: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await function()
    return time.perf_counter() - started, result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--book-events", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--state-events", type=int, default=345_600)
    parser.add_argument(
        "--only", choices=("stores", "books", "hook", "slow", "state"), default=None
    )
    parser.add_argument(
        "--gc", choices=("server", "default"), default="server",
        help="collector thresholds: the server's (as it runs) or the interpreter's defaults",
    )  # fmt: skip
    args = parser.parse_args()
    trades = trade_envelopes(args.events if args.only in (None, "stores", "hook") else 1)
    if args.gc == "server":
        gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()  # the generated day is long-lived, as a server's own objects are
    encode_s, _ = timed(lambda: encode_all(trades))
    print(
        f"{len(trades):,} trades of one market-day; row encoding {len(trades) / encode_s:,.0f} ev/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "stores"):
            await compare_stores(trades, Path(tmp))
        if args.only in (None, "books"):
            books = book_envelopes(args.book_events)
            print(await bench_book_at(books, Path(tmp), args.samples))
        if args.only in (None, "hook"):
            print(await bench_hook(trades, Path(tmp)))
        if args.only in (None, "slow"):
            print(await bench_slow_streams(Path(tmp)))
        if args.only in (None, "state"):
            metrics = metric_envelopes(args.state_events)
            print(await bench_state_at(metrics, Path(tmp), args.samples, checkpoints=True))
            print(await bench_state_at(metrics, Path(tmp), 5, checkpoints=False))


async def compare_stores(trades: list[Envelope], tmp: Path) -> None:
    results: dict[str, dict[str, float]] = {}
    for name in ("sqlite", "duckdb", "parquet"):
        directory = tmp / name
        directory.mkdir()
        if name == "sqlite":
            results[name] = await bench_sqlite(trades, directory)
        else:
            results[name] = bench_duckdb(trades, directory, parquet=name == "parquet")
    small = trade_envelopes(100_000)
    for name in ("sqlite", "duckdb", "parquet"):
        directory = tmp / f"{name}-small"
        directory.mkdir()
        if name == "sqlite":
            found = await bench_sqlite(small, directory, batch=1_000)
        else:
            found = bench_duckdb(small, directory, parquet=name == "parquet", batch=1_000)
        results[name]["1k-batch ev/s"] = found["write ev/s"]
    columns = list(results["sqlite"])
    print(f"{'store':<10}" + "".join(f"{c:>16}" for c in columns))
    for name, values in results.items():
        print(f"{name:<10}" + "".join(f"{values[c]:>16,.2f}" for c in columns))


if __name__ == "__main__":
    asyncio.run(main())
