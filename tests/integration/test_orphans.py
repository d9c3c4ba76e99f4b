"""No orphan processes: the model-training worker and the pool's resource tracker die with a
SIGKILLed server (issue 15, point 4)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
from tests.integration.nodes import NodeProcess, create_key

ROWS = [{"a": n, "b": n % 3, "y": "up" if n % 2 else "down"} for n in range(40)]


def test_training_workers_die_with_a_sigkilled_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data, "ops", "admin")
    node = NodeProcess("server", tmp_path, ["--source", "none", "--data-dir", str(data)], {})
    try:
        node.wait_healthy()
        trained = httpx.post(
            f"{node.http}/api/v1/models",
            json={"strategy": "s", "name": "m", "type": "class", "target": "y", "rows": ROWS},
            headers={"X-API-Key": key},
            timeout=60,
        )
        assert trained.status_code == 201, trained.text
        children = psutil.Process(node.process.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        assert any("spawn_main" in c for c in commands), commands  # the pool's worker
        assert any("resource_tracker" in c for c in commands), commands
        node.kill()
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        node.stop()
