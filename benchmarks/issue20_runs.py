"""The issue-20 scenarios of ``benchmarks/compare.py`` that need no harness (points 1, 2, 3, 5, 6).

Each runs existing benchmark scripts as subprocesses and writes their JSON lines, tagged, to
``<results>/<stamp>-<name>.jsonl``; ``issue20_table`` turns them into rows of the one issue-20
targets table.

* ``dialects``: max fan-out to 1,000 counting clients on one stream (``cm_fanout.py --raw``
  native and Coin Metrics, ``vega_fanout.py --raw``), then the same three at the paced rate of
  50 msgs/s (``--rate 50``): deliveries/s and server CPU per dialect against native, one client
  for all three (server on CPU 0, client on CPU 1). ``cm`` is an alias (its old name).
* ``idle``: ``idle_memory.py --tasks``: 2,000 idle connections per dialect (native, Coin Metrics,
  Vega, Socket.IO feed, ``/ws``), KB per connection and asyncio tasks per connection.
* ``predict``: ``predict.py --json``: ``/ws`` p99 with 1 and 50 connections.
* ``vega``: ``vega_fanout.py --raw --rate 10000`` with 20 clients (blocks of 10,000 trades, over
  the 1 MiB per-connection budget: how many fast readers are cut) and ``vega_ingest.py --json``
  (the node's µs per event without Vega, with Vega and no subscriber, with subscribers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import ingest_targets

HERE = Path(__file__).resolve().parent
SCENARIOS = ("dialects", "idle", "predict", "vega")
ALIASES = {"cm": "dialects"}
CLIENTS = 1000
IDLE_CONNS = 2000
IDLE_DIALECTS = ("native", "coinmetrics", "vega", "sio", "ws")
BIG_BLOCK_RATE = 10_000
BIG_BLOCK_CLIENTS = 20


def _lines(command: list[str], timeout: float = 900) -> list[dict[str, Any]]:
    """Run ``command`` (a script of this directory and its arguments); its stdout's JSON lines."""
    full = [sys.executable, str(HERE / command[0]), *command[1:]]
    print(f"== {' '.join(command)}", flush=True)
    try:
        done = subprocess.run(full, cwd=HERE.parent, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        print(f"   timed out after {timeout:.0f} s", flush=True)
        return []
    records = []
    for line in done.stdout.splitlines():
        if line.startswith("{") and line.endswith("}"):
            records.append(json.loads(line))
    if done.returncode != 0 or not records:
        print(f"   exit {done.returncode}: {done.stderr.strip()[-400:]}", flush=True)
    return records


def _dialects(duration: float, warmup: float, reps: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    window = ["--duration", str(duration), "--warmup", str(warmup), "--pin"]
    for mode, rate in (("max", "max"), ("r50", "50")):
        for _ in range(reps):
            for dialect in ("native", "coinmetrics", "vega"):
                if dialect == "vega":
                    command = ["vega_fanout.py", "--raw"]
                else:
                    command = ["cm_fanout.py", "--raw", "--dialect", dialect]
                command += ["--clients", str(CLIENTS), "--rate", rate, *window]
                for record in _lines(command, timeout=300):
                    record.update(group="dialects", mode=mode)
                    print(json.dumps(record), flush=True)
                    records.append(record)
    return records


def _idle() -> list[dict[str, Any]]:
    command = ["idle_memory.py", "--dialects", ",".join(IDLE_DIALECTS), "--conns",
               str(IDLE_CONNS), "--tasks"]  # fmt: skip
    records = _lines(command)
    for record in records:
        record["group"] = "idle"
        print(json.dumps(record), flush=True)
    return records


def _predict(quick: bool) -> list[dict[str, Any]]:
    command = ["predict.py", "--json"]
    if quick:
        command += ["--requests", "3000", "--pause-ms", "0", "--duration", "3", "--warmup", "300"]
    full = [sys.executable, str(HERE / command[0]), *command[1:]]
    print(f"== {' '.join(command)}", flush=True)
    done = subprocess.run(full, cwd=HERE.parent, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"   exit {done.returncode}: {done.stderr.strip()[-400:]}", flush=True)
        return []
    load = document["meta"].get("load_before")
    records = [dict(r, group="predict", load_before=load) for r in document["results"]]
    for record in records:
        print(json.dumps(record), flush=True)
    return records


def _vega(quick: bool, warmup: float) -> list[dict[str, Any]]:
    big = ["vega_fanout.py", "--raw", "--rate", str(BIG_BLOCK_RATE), "--clients",
           str(BIG_BLOCK_CLIENTS), "--block", "1", "--duration", "6" if quick else "15",
           "--warmup", str(warmup), "--pin"]  # fmt: skip
    records = [dict(r, group="vega", kind="big blocks") for r in _lines(big, timeout=300)]
    events, reps = ("30000", "3") if quick else ("60000", "3")
    derived = ["vega_ingest.py", "--events", events, "--reps", reps, "--json"]
    records += [dict(r, group="vega", kind="derived") for r in _lines(derived)]
    for record in records:
        print(json.dumps(record), flush=True)
    return records


def run(
    name: str, results: Path, stamp: str, *, quick: bool, duration: float, warmup: float, reps: int
) -> Path:
    """Run one scenario; its records go to ``<results>/<stamp>-<name>.jsonl``."""
    name = ALIASES.get(name, name)
    out = results / f"{stamp}-{name}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"== scenario {name}", flush=True)
    if name == "dialects":
        records = _dialects(duration, max(warmup, 3.0), reps)
    elif name == "idle":
        records = _idle()
    elif name == "predict":
        records = _predict(quick)
    else:
        records = _vega(quick, max(warmup, 3.0))
    with out.open("a") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return out


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """The records of these scenarios' result files among ``paths`` (others are skipped)."""
    return ingest_targets.load_records(paths, SCENARIOS)
