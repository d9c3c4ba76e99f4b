"""The dashboard's JavaScript client under Node's test runner, checked against Python checksums."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from tickcast.book import checksum_of_strings

ROOT = Path(__file__).resolve().parents[3]
JS_TESTS = ROOT / "tests" / "js" / "dashboard" / "tickcast-client.test.mjs"


def _vectors(count: int) -> list[dict[str, object]]:
    """Random two-sided books with the server's checksum (prices 2 dp, sizes 3 dp)."""
    rng = random.Random(7)
    vectors: list[dict[str, object]] = []
    for _ in range(count):
        bid_prices = sorted({rng.randint(1_000, 9_000_000) for _ in range(rng.randint(0, 15))})
        ask_prices = sorted({rng.randint(9_000_001, 18_000_000) for _ in range(rng.randint(0, 15))})
        bids = [(f"{p / 100:.2f}", f"{rng.randint(1, 5000) / 1000:.3f}") for p in bid_prices[::-1]]
        asks = [(f"{p / 100:.2f}", f"{rng.randint(1, 5000) / 1000:.3f}") for p in ask_prices]
        checksum = checksum_of_strings(bids, asks)
        vectors.append({"bids": bids, "asks": asks, "checksum": checksum})
    return vectors


def test_js_client_passes_node_tests_with_server_checksums(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.json"
    vectors.write_text(json.dumps(_vectors(60)))
    result = subprocess.run(
        ["node", "--test", str(JS_TESTS)],
        env={"TICKCAST_VECTORS": str(vectors), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 18" in result.stdout
