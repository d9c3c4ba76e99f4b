"""SIGKILL a ``tickcast serve`` process while it writes history (issue 17, point 8): the store
is consistent and holds every event confirmed stored before the kill; only the unflushed batch
may be lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
from tests.integration.nodes import NodeProcess, create_key
from tests.integration.wire import MARKET, MARKET_DEF, trade

from tickcast.history.sqlite_segments import stored_seqs

BATCH = 200


def publish(node: NodeProcess, key: str, first: int) -> None:
    events = [trade(n) for n in range(first, first + BATCH)]
    response = httpx.post(
        f"{node.http}/api/v1/publish", json={"markets": [MARKET_DEF], "events": events},
        headers={"X-API-Key": key}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text


def stored_count(node: NodeProcess, key: str) -> int:
    """Trades the store holds now: a REST read first waits for pending events to be written."""
    response = httpx.get(
        f"{node.http}/v4/timeseries/market-trades",
        params={"api_key": key, "markets": MARKET, "format": "json_stream",
                "start_time": "2026-01-01"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return len(response.text.splitlines())


def test_sigkill_of_a_writing_server_keeps_every_confirmed_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    node = NodeProcess(
        "history-kill", tmp_path,
        ["--data-dir", str(data_dir), "--source", "none"],
        {"TICKCAST_HISTORY_RETENTION": "trades=forever"},
    )  # fmt: skip
    try:
        node.wait_healthy()
        key = create_key(data_dir, "feeder", "admin")
        for first in range(1, 5 * BATCH, BATCH):
            publish(node, key, first)
        confirmed = stored_count(node, key)
        assert confirmed == 5 * BATCH
        for first in range(5 * BATCH + 1, 10 * BATCH, BATCH):
            publish(node, key, first)  # pending: written within 0.25 s, or lost by the kill
        node.kill()
    finally:
        node.stop()
    db = sqlite3.connect(data_dir / "history.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = stored_seqs(db)
    finally:
        db.close()
    assert seqs == list(range(1, len(seqs) + 1))  # a dense prefix: nothing torn, no hole
    assert confirmed <= len(seqs) <= 10 * BATCH
