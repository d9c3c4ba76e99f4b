"""Store benchmark: key creation, authentication (latency and concurrent rate), usage flushes.

Runs the same operations on SQLite (a temp file) and on PostgreSQL (``--store URL``, or by
default a throw-away server started like the tests do: initdb in a temp dir, a random loopback
port), and prints one table.

    .venv/bin/python benchmarks/store.py
    .venv/bin/python benchmarks/store.py --keys 500 --auths 5000 --concurrency 64
    .venv/bin/python benchmarks/store.py --store postgresql://tc:pw@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tickcast.auth.metering import Usage
from tickcast.auth.plans import load_plans
from tickcast.clock import SystemClock
from tickcast.storage.base import Store
from tickcast.storage.factory import open_and_migrate, open_store

REPO = str(Path(__file__).resolve().parent.parent)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench(store: Store, args: argparse.Namespace) -> dict[str, float]:
    result: dict[str, float] = {}
    started = time.perf_counter()
    await open_and_migrate(store)
    result["open + migrate ms"] = (time.perf_counter() - started) * 1e3

    started = time.perf_counter()
    keys: list[str] = []
    key_ids: list[str] = []
    for n in range(args.keys):
        user = f"user{n % 50}"
        await store.ensure_user(user, "pro")
        key, record = await store.create_key(user=user)
        keys.append(key)
        key_ids.append(record.key_id)
    result["create key /s"] = args.keys / (time.perf_counter() - started)

    latencies = []
    for n in range(args.auths):
        started = time.perf_counter()
        principal = await store.authenticate(keys[n % len(keys)])
        latencies.append(time.perf_counter() - started)
        assert principal is not None
    result["auth p50 us"] = statistics.median(latencies) * 1e6
    result["auth p99 us"] = percentile(latencies, 0.99) * 1e6
    result["auth sequential /s"] = len(latencies) / sum(latencies)

    async def worker(offset: int) -> None:
        for n in range(offset, args.auths, args.concurrency):
            assert await store.authenticate(keys[n % len(keys)]) is not None

    started = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(args.concurrency)))
    result[f"auth x{args.concurrency} concurrent /s"] = args.auths / (time.perf_counter() - started)

    deltas = {key_id: Usage(connections=1, messages=100, bytes=10_000) for key_id in key_ids}
    flushes = []
    for _ in range(args.flushes):
        started = time.perf_counter()
        await store.add_usage({key: usage.copy() for key, usage in deltas.items()})
        flushes.append(time.perf_counter() - started)
    result[f"usage flush of {len(deltas)} keys ms"] = statistics.median(flushes) * 1e3
    totals = await store.usage(key_ids[0])
    assert totals[key_ids[0]].messages == 100 * args.flushes
    await store.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="PostgreSQL URL (default: a throw-away local server)")
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--auths", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--flushes", type=int, default=10)
    args = parser.parse_args()
    plans, clock = load_plans(), SystemClock()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as data:
        store = open_store("", data_dir=data, plans=plans, clock=clock)
        results["sqlite"] = await bench(store, args)
    server = None
    url = args.store
    if url is None:
        sys.path.insert(0, REPO)  # for tests/postgres_server.py
        from tests.postgres_server import create_database, start_postgres

        server = await asyncio.to_thread(start_postgres)
        url = await create_database(server)
    try:
        store = open_store(url, data_dir=".", plans=plans, clock=clock)
        results["postgresql"] = await bench(store, args)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
    names = list(results["sqlite"])
    width = max(len(name) for name in names)
    print(f"{'':{width}}  {'sqlite':>12}  {'postgresql':>12}")
    for name in names:
        print(
            f"{name:{width}}  {results['sqlite'][name]:12.1f}  {results['postgresql'][name]:12.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
