"""Drive the official ``coinmetrics-api-client`` in a subprocess against an in-process server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLIENT = Path(__file__).with_name("stream_client.py")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


async def run_streams(
    host: str,
    port: int,
    key: str,
    calls: list[dict[str, Any]],
    *,
    timeout: float = 60.0,
    schema: str = "http",
    env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run the calls in one client process; one result dict per call, in order. ``schema``
    ``https`` makes the client use https and wss (``env`` adds environment variables, e.g. the
    CA bundle to trust)."""
    spec = json.dumps({"host": host, "port": port, "key": key, "calls": calls, "schema": schema})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CLIENT),
        spec,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError(
            f"client timed out; output so far:\n{stdout.decode()}\n{stderr.decode()[-3000:]}"
        ) from None
    assert process.returncode == 0, stderr.decode()[-3000:]
    results = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    assert len(results) == len(calls), stderr.decode()[-3000:]
    return results


async def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def assert_sequence(messages: list[dict[str, Any]]) -> None:
    """``cm_sequence_id`` counts data messages of the connection from "0"."""
    ids = [m["cm_sequence_id"] for m in messages if "cm_sequence_id" in m]
    assert ids == [str(i) for i in range(len(ids))], ids


def assert_strings(message: dict[str, Any]) -> None:
    """Every scalar value is a string; times have nine fractional digits."""
    for name, value in message.items():
        if isinstance(value, list):
            for level in value:
                assert set(level) == {"price", "size"}
                assert all(isinstance(v, str) for v in level.values())
            continue
        assert isinstance(value, str), (name, value)
        if name in ("time", "collect_time", "exchange_time", "database_time"):
            assert TIME_RE.match(value), value
