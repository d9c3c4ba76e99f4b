#!/usr/bin/env python3
"""Fan-out comparison and the issue-20 targets: tickcast against the C reference, picows,
websockets and python-socketio, every dialect against native, ingest, in one run on this machine;
prints every figure, the issue-9 targets and ONE issue-20 targets table (docs/performance.md).

Drives the team's harness (benchmarks/harness/bench.py: server pinned to CPU 0 with taskset, the C
epoll client ``wsload`` pinned to CPU 1, loopback only) scenario by scenario, runs the other
benchmark scripts as subprocesses (each prints JSON lines), then reads the JSONL records and
prints Markdown tables.

    benchmarks/build.sh                       # once: gcc the C client/reference, peer venv
    .venv/bin/python benchmarks/compare.py    # every scenario (``all``), 10 s windows
    .venv/bin/python benchmarks/compare.py --quick             # 4 s windows, r1000 15 s (~10 min)
    .venv/bin/python benchmarks/compare.py --scenarios issue20 --quick
    .venv/bin/python benchmarks/compare.py --scenarios max,sio --reps 2
    .venv/bin/python benchmarks/compare.py --report 'benchmarks/harness/results/<stamp>-*.jsonl'

Scenarios (``--scenarios``, comma-separated; a group name stands for its scenarios: ``issue9``
= max,r1000,r50,sio; ``issue20`` = max,r50,sio,dialects,idle,ingest,control,predict,vega;
``all``, the default, = both). Harness: ``max`` (N=1,000 and 5,000, as fast as each server
sustains), ``r1000`` (1,000 msgs/s to 1,000 clients for ``--long`` seconds), ``r50`` (50 msgs/s to
1,000 clients: CPU and latency against the C reference and picows, and the Socket.IO feed's CPU
against native), ``sio`` (the Socket.IO feed against python-socketio); idle-connection memory is
read in every harness run. No harness: ``ingest`` (trades and book deltas into the memory bus
with 0 and 100 subscribers and into a Redis ingest node, with the raw Redis PUBLISH ceiling of
the same run) and ``control`` (control-plane latency while ingest saturates a core), see
``ingest_targets``; ``dialects`` (``cm`` is its old name: native, Coin Metrics and Vega at max
rate and at 50 msgs/s to 1,000 counting clients), ``idle`` (2,000 idle connections per dialect:
KB and asyncio tasks per connection), ``predict`` (``/ws`` p99, 1 and 50 connections) and
``vega`` (big blocks, derived state's cost), see ``issue20_runs``. ``issue20_table`` builds the
table: every target of issue 20 points 1-6, met, MISSED, or not measured and why.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ingest_targets
import issue20_runs
import issue20_table

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "harness"
REPO = HERE.parent
TEAM_PEER_CONFIG = HARNESS / "peers" / "tickcast_peer.toml"
"""For the ``tickcast`` peer (the team's ``tickcast_peer.sh``, which takes no config): the pro
plan as the bench plan, and ``publish_stamps``. The ``tickcast-usr2``/``-sio`` peers write their
own config and use a key of the ``bench`` plan."""

SCENARIOS: dict[str, tuple[str, str, str]] = {
    # name: (peers, conns, rates)
    "max": ("c-ref,tickcast-usr2,py-picows,py-websockets", "1000,5000", "max"),
    "r1000": ("c-ref,tickcast-usr2", "1000", "1000"),
    "r50": ("c-ref,tickcast-usr2,py-picows,py-websockets,tickcast-sio", "1000", "50"),
    "sio": ("tickcast-sio,py-socketio", "1000,5000", "max"),
}
GROUPS = {  # --scenarios may name a group: its scenarios, in order
    "issue9": "max,r1000,r50,sio",
    "issue20": "max,r50,sio,dialects,idle,ingest,control,predict,vega",
    "all": "max,r1000,r50,sio,dialects,idle,ingest,control,predict,vega",
}
TARGET_MAX_RATIO = 10.0
TARGET_R1000_P99_MS = 50.0
TARGET_R50_CPU = 1.3
TARGET_R50_P99 = 1.5
TARGET_IDLE_KB = 10.0
TARGET_SIO_RATIO = 5.0


def run_scenario(name: str, args: argparse.Namespace, stamp: str) -> Path:
    peers, conns, rates = SCENARIOS[name]
    duration = args.long if name == "r1000" else args.duration
    out = HARNESS / "results" / f"{stamp}-{name}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable if not args.python else args.python,
        str(HARNESS / "bench.py"),
        "--peers",
        args.peers or peers,
        "--conns",
        conns,
        "--rates",
        rates,
        "--reps",
        str(args.reps),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(duration),
        "--out",
        str(out),
        "--base-port",
        str(args.base_port),
    ]
    env = dict(os.environ, TICKCAST=args.tickcast)
    env.setdefault("TICKCAST_CONFIG", str(TEAM_PEER_CONFIG))  # the team's own tickcast peer
    print(f"== scenario {name}: {' '.join(command[2:])}", flush=True)
    subprocess.run(command, cwd=HARNESS, env=env, check=False, timeout=3600)
    return out


def load(paths: list[Path]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in paths:
        scenario = path.stem.rsplit("-", 1)[-1]
        with path.open() as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("kind") == "run":
                    record["scenario"] = scenario
                    records.append(record)
    return records


def _client(record: dict[str, Any]) -> dict[str, Any]:
    client: dict[str, Any] = record.get("client") or {}
    return client


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def figures_table(records: list[dict[str, Any]]) -> str:
    rows = [
        "| scenario | peer | N | R | delivered msgs/s | publish msgs/s | p50 ms | p99 ms | "
        "server CPU % | core0 busy % | idle KB/conn | gaps | error |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        c = _client(r)
        lat = c.get("lat_us", {})
        core0 = (r.get("cpu_stat") or {}).get("cpu0", {}).get("busy_pct")
        rows.append(
            f"| {r['scenario']} | {r['peer']} | {r['n']} | {r['rate']} | "
            f"{fmt_rate(c.get('msgs_per_s'))} | {fmt_rate(c.get('pub_rate'))} | "
            f"{lat.get('p50', 0) / 1000:.1f} | {lat.get('p99', 0) / 1000:.1f} | "
            f"{r.get('server_cpu_pct', '–')} | {core0 if core0 is not None else '–'} | "
            f"{r.get('idle_kb_per_conn', '–')} | {c.get('gaps', '–')} | {r.get('error', '')} |"
        )
    return "\n".join(rows)


def best(records: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The repetition with the highest delivered rate among records matching ``match``."""
    found = [r for r in records if all(r.get(k) == v for k, v in match.items()) and _client(r)]
    return max(found, key=lambda r: _client(r).get("msgs_per_s", 0.0), default=None)


def targets_table(records: list[dict[str, Any]]) -> str:
    rows = ["| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("met" if ok else "MISSED")

    for n in (1000, 5000):
        ours = best(records, scenario="max", peer="tickcast-usr2", n=n)
        peers = [best(records, scenario="max", peer=p, n=n) for p in ("py-picows", "py-websockets")]
        top = max(
            (p for p in peers if p is not None),
            key=lambda r: _client(r).get("msgs_per_s", 0.0),
            default=None,
        )
        if ours and top:
            mine, theirs = _client(ours)["msgs_per_s"], _client(top)["msgs_per_s"]
            ratio = mine / theirs if theirs else 0.0
            text = f"{fmt_rate(mine)}/s vs {top['peer']} {fmt_rate(theirs)}/s = {ratio:.1f}×"
            rows.append(f"| max, N={n}: ≥ 10× best peer | {text} | {verdict(ratio >= 10)} |")
    r1000 = best(records, scenario="r1000", peer="tickcast-usr2", n=1000)
    if r1000:
        c = _client(r1000)
        p99 = c["lat_us"]["p99"] / 1000
        ok = c.get("gaps", 1) == 0 and p99 <= TARGET_R1000_P99_MS and c["msgs_per_s"] > 0.98e6
        text = (
            f"{fmt_rate(c['msgs_per_s'])}/s over {c.get('window_s', 0):.0f} s, "
            f"gaps {c.get('gaps')}, p99 {p99:.1f} ms"
        )
        rows.append(f"| 1,000 msgs/s × 1,000 clients: no gaps, p99 ≤ 50 ms | {text} | "
                    f"{verdict(ok)} |")  # fmt: skip
    ours, ref = (best(records, scenario="r50", peer=p, n=1000) for p in ("tickcast-usr2", "c-ref"))
    if ours and ref:
        cpu, ref_cpu = ours.get("server_cpu_pct", 0.0), ref.get("server_cpu_pct", 0.0)
        p99, ref_p99 = _client(ours)["lat_us"]["p99"], _client(ref)["lat_us"]["p99"]
        cpu_ok = bool(ref_cpu) and cpu <= TARGET_R50_CPU * ref_cpu
        lat_ok = bool(ref_p99) and p99 <= TARGET_R50_P99 * ref_p99
        rows.append(
            f"| 50 msgs/s × 1,000: CPU ≤ 1.3× C ref | {cpu}% vs {ref_cpu}% "
            f"({cpu / ref_cpu if ref_cpu else 0:.2f}×) | {verdict(cpu_ok)} |"
        )
        rows.append(
            f"| 50 msgs/s × 1,000: p99 ≤ 1.5× C ref | {p99 / 1000:.1f} ms vs "
            f"{ref_p99 / 1000:.1f} ms ({p99 / ref_p99 if ref_p99 else 0:.2f}×) | "
            f"{verdict(lat_ok)} |"
        )
    idle = [
        r["idle_kb_per_conn"]
        for r in records
        if r["peer"] == "tickcast-usr2" and isinstance(r.get("idle_kb_per_conn"), int | float)
    ]
    if idle:
        rows.append(
            f"| ≤ 10 KB per idle native connection | {min(idle):.1f}–{max(idle):.1f} KB | "
            f"{verdict(max(idle) <= TARGET_IDLE_KB)} |"
        )
    sio_idle = [
        r["idle_kb_per_conn"]
        for r in records
        if r["peer"] == "tickcast-sio" and isinstance(r.get("idle_kb_per_conn"), int | float)
    ]
    if sio_idle:
        rows.append(
            f"| (Socket.IO feed idle connection) | {min(sio_idle):.1f}–{max(sio_idle):.1f} KB | "
            f"{verdict(max(sio_idle) <= TARGET_IDLE_KB)} |"
        )
    for n in (1000, 5000):
        ours = best(records, scenario="sio", peer="tickcast-sio", n=n)
        theirs = best(records, scenario="sio", peer="py-socketio", n=n)
        if ours and theirs:
            mine, other = _client(ours)["msgs_per_s"], _client(theirs)["msgs_per_s"]
            ratio = mine / other if other else 0.0
            rows.append(
                f"| Socket.IO feed, N={n}: ≥ 5× python-socketio | {fmt_rate(mine)}/s vs "
                f"{fmt_rate(other)}/s = {ratio:.1f}× | {verdict(ratio >= TARGET_SIO_RATIO)} |"
            )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios", default="all", help=f"scenarios and groups, comma-separated: {GROUPS}"
    )
    parser.add_argument("--peers", help="override every scenario's peer list")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0, help="window per run (s)")
    parser.add_argument("--long", type=float, default=60.0, help="window of r1000 (s)")
    parser.add_argument("--quick", action="store_true", help="4 s windows, r1000 15 s")
    parser.add_argument(
        "--tickcast",
        default=shutil.which("tickcast") or str(REPO / ".venv" / "bin" / "tickcast"),
        help="the tickcast binary the peers run",
    )
    parser.add_argument("--python", help="python for bench.py (default: this one)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=21000,
        help="first server port (pick another one while someone else runs the harness)",
    )
    parser.add_argument("--report", nargs="*", help="only print tables for these JSONL files")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.long = 4.0, 15.0
    if args.report is not None:
        paths = [Path(p) for pattern in args.report for p in sorted(glob.glob(pattern))]
    else:
        names = expand(args.scenarios)
        if any(n in SCENARIOS for n in names) and not (HARNESS / "c" / "wsload").exists():
            print("run benchmarks/build.sh first (C client and peers)", file=sys.stderr)
            return 2
        paths = run_all(names, args, time.strftime("%Y%m%d-%H%M%S"))
    records = load([p for p in paths if p.exists()])
    if records:
        print("\n## Every run\n")
        print(figures_table(records))
    extra = issue20_runs.load(paths)
    if extra:
        print("\n## Every other run (issue 20)\n")
        print(issue20_table.figures(extra))
    if records:
        print("\n## Issue 9 targets\n")
        print(targets_table(records))
    print("\n## Issue 20 targets (points 1-6, this run)\n")
    ingest = ingest_targets.load(paths)
    print(issue20_table.table(records, extra, lambda: ingest_targets.rows(ingest)))
    return 0


def expand(scenarios: str) -> list[str]:
    """Scenario names, groups replaced by their scenarios (each name once, first place kept)."""
    names: list[str] = []
    for name in scenarios.split(","):
        for one in GROUPS.get(name, name).split(","):
            one = issue20_runs.ALIASES.get(one, one)
            if one and one not in names:
                names.append(one)
    return names


def run_all(names: list[str], args: argparse.Namespace, stamp: str) -> list[Path]:
    """The harness's scenarios, then the ingest and control-plane ones (``ingest_targets``)."""
    paths = [run_scenario(name, args, stamp) for name in names if name in SCENARIOS]
    for name in names:
        results = HARNESS / "results"
        if name in ingest_targets.SCENARIOS:
            paths.append(ingest_targets.run(name, results, stamp, quick=args.quick,
                                            python=args.python))  # fmt: skip
        elif name in issue20_runs.SCENARIOS:
            paths.append(issue20_runs.run(name, results, stamp, quick=args.quick,
                                          duration=args.duration, warmup=args.warmup,
                                          reps=args.reps))  # fmt: skip
        elif name not in SCENARIOS:
            print(f"unknown scenario {name!r}", file=sys.stderr)
    return paths


if __name__ == "__main__":
    sys.exit(main())
