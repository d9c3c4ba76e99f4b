"""The ingest and control-plane scenarios of ``benchmarks/compare.py`` (issue 20, points 4, 5, 7).

``ingest``: ``benchmarks/ingest.py`` (trades and book deltas through the publish API into the
memory bus with 0 and 100 subscribers, the same into a Redis ingest node, and the raw Redis
PUBLISH ceiling of that redis-server in the same run). ``control``:
``benchmarks/control_latency.py`` (``/metrics``, ``/healthz`` and a catalogue call while a
simulator saturates a core). Each writes JSON lines next to the harness's results; ``rows``
turns them into rows of compare.py's targets table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = ("ingest", "control")
TARGETS = {  # (scenario of ingest.py, subscribers) → (events/s, judged on): per core for the
    # memory bus (events per CPU second of the node), per ingest node (wall) for the Redis bus
    ("memory trades", 100): (200_000, "per_cpu_s"),
    ("memory book deltas", 100): (100_000, "per_cpu_s"),
    ("redis trades (ingest node)", 0): (100_000, "per_wall_s"),
    ("redis book deltas (ingest node)", 0): (100_000, "per_wall_s"),
}
BASIS = {"per_cpu_s": "events/CPU s of the node", "per_wall_s": "events/s of the node (wall)"}
TARGET_CONTROL_MS = 50.0
NOT_MEASURED = "not measured (scenario `{}` not in this run, or its runs failed)"


def run(name: str, results: Path, stamp: str, *, quick: bool, python: str | None) -> Path:
    """Run one scenario; its JSON lines go to ``<results>/<stamp>-<name>.jsonl``."""
    out = results / f"{stamp}-{name}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    if name == "ingest":
        events = "30000" if quick else "60000"
        # --settle: the durable history's writer thread is counted in full (issue 20, session 5)
        common = ["--events", events, "--settle", "--json", str(out)]
        args = ["ingest.py", "--only", "memory", *common]
        # --sink: the Redis ingest node publishes as its sources do (batches in flight)
        redis = ["ingest.py", "--only", "redis", "--sink", *common]
        commands = [args, redis]
    else:
        seconds = "8" if quick else "15"
        commands = [["control_latency.py", "--seconds", seconds, "--json", str(out)]]
    for command in commands:
        full = [python or sys.executable, str(HERE / command[0]), *command[1:]]
        print(f"== scenario {name}: {' '.join(command)}", flush=True)
        subprocess.run(full, cwd=HERE.parent, check=False, timeout=900)
    return out


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """The records of ingest/control result files among ``paths`` (others are skipped)."""
    return load_records(paths, SCENARIOS)


def load_records(paths: list[Path], scenarios: tuple[str, ...]) -> list[dict[str, Any]]:
    """The JSON lines of the files among ``paths`` named ``<stamp>-<scenario>.jsonl`` for one of
    ``scenarios`` (others are skipped)."""
    records: list[dict[str, Any]] = []
    for path in paths:
        if path.stem.rsplit("-", 1)[-1] not in scenarios or not path.exists():
            continue
        with path.open() as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    return records


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def rows(records: list[dict[str, Any]]) -> list[str]:
    """Targets-table rows (medians over repetitions)."""
    out: list[str] = []
    for (scenario, subscribers), (target, basis) in TARGETS.items():
        found = [
            r for r in records
            if r.get("scenario") == scenario and r.get("subscribers") == subscribers
        ]  # fmt: skip
        label = f"4. {scenario}, {subscribers} subscribers: ≥ {target:,} {BASIS[basis]}"
        if not found:
            out.append(f"| {label} | – | {NOT_MEASURED.format('ingest')} |")
            continue
        cpu = _median([r["per_cpu_s"] for r in found])
        wall = _median([r["per_wall_s"] for r in found])
        user = _median([r.get("per_user_cpu_s", 0) for r in found])
        share = _median([r.get("sys_share", 0.0) for r in found])
        text = (
            f"{cpu:,.0f}/CPU s ({user:,.0f}/user CPU s, kernel {share:.0%}; "
            f"{wall:,.0f}/s wall), {len(found)} run(s)"
        )
        judged = _median([r[basis] for r in found])
        out.append(f"| {label} | {text} | {_verdict(judged >= target)} |")
    ceiling = {r["scenario"]: r["per_wall_s"] for r in records if "PUBLISH" in r["scenario"]}
    if ceiling:
        text = ", ".join(f"{name.removeprefix('redis PUBLISH ')} {rate:,}/s"
                         for name, rate in ceiling.items())  # fmt: skip
        out.append(f"| 4. (Redis PUBLISH ceiling, same run) | {text} | – (the reference) |")
    label = f"5. control plane and /metrics ≤ {TARGET_CONTROL_MS:.0f} ms under saturating ingest"
    control = [r for r in records if r.get("scenario") == "control plane under ingest"]
    if not control:
        out.append(f"| {label} | – | {NOT_MEASURED.format('control')} |")
    for r in control:
        paths = ", ".join(f"{p} p99 {r[p]['p99_ms']} ms" for p in r if p.startswith("/"))
        text = (
            f"max {r['max_ms']} ms ({paths}); server CPU {r['server_cpu']:.0%}, "
            f"{r['events_per_s']:,} events/s, load average {r.get('load_average', '–')}"
        )
        out.append(f"| {label} | {text} | {_verdict(r['max_ms'] <= TARGET_CONTROL_MS)} |")
    return out
