"""Store before/after: ``benchmarks/store.py`` on a git revision's code and on the working tree,
alternately (so both see the same machine load), printing the median of each figure.

    .venv/bin/python benchmarks/store_ab.py --before 0d13d72 --rounds 5

The revision's ``src/`` is exported to a temporary directory and put first on ``PYTHONPATH``; the
benchmark script itself is this tree's. Extra arguments go to ``benchmarks/store.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^(\S.*?)\s{2,}(-?[\d.]+)\s+(-?[\d.]+)$")


def export(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run(src: Path, extra: list[str]) -> dict[str, tuple[float, float]]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{REPO}"}
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "store.py"), *extra],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match.group(1).strip()] = (float(match.group(2)), float(match.group(3)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="0d13d72", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    args, extra = parser.parse_known_args()
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"before": export(args.before, Path(tmp)), "after": REPO / "src"}
        for _ in range(args.rounds):
            for label, src in sources.items():
                for name, pair in run(src, extra).items():
                    samples[label].setdefault(name, []).append(pair)
    print(f"median of {args.rounds} alternating runs; before = {args.before}, after = tree")
    print(f"{'':34}{'sqlite before':>14}{'after':>10}{'pg before':>12}{'after':>10}")
    for name, before in samples["before"].items():
        after = samples["after"][name]
        cells = [
            statistics.median(values[i] for values in series)
            for i in (0, 1)
            for series in (before, after)
        ]
        print(f"{name:34}{cells[0]:14.1f}{cells[1]:10.1f}{cells[2]:12.1f}{cells[3]:10.1f}")


if __name__ == "__main__":
    main()
