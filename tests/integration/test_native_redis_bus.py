"""The native dialect's subscribe, snapshot and resume tests, run against the Redis bus."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer, ServerFactory
from tests.integration import test_native_lifecycle as lifecycle
from tests.integration import test_native_resume as resume


@pytest.fixture
def redis_start_server(start_server: ServerFactory, redis_url: str) -> ServerFactory:
    async def start(**overrides: Any) -> RunningServer:
        overrides.setdefault("bus", redis_url)
        server = await start_server(**overrides)
        assert type(server.node.bus).__name__ == "RedisBus"
        return server

    return start


async def test_resume_within_history_replays(redis_start_server: ServerFactory) -> None:
    await resume.test_resume_within_history_replays_without_gap_or_duplicate(redis_start_server)


async def test_resume_beyond_history_gap_and_reset(redis_start_server: ServerFactory) -> None:
    await resume.test_resume_beyond_history_gives_gap_for_events_and_reset_for_books(
        redis_start_server
    )


async def test_resume_from_another_epoch(redis_start_server: ServerFactory) -> None:
    await resume.test_resume_from_another_epoch_reports_epoch_gap(redis_start_server)


async def test_every_stream_kind_snapshots_then_updates(
    redis_start_server: ServerFactory,
) -> None:
    await lifecycle.test_native_every_stream_kind_flows(redis_start_server)


async def test_metrics_report_bus_holes(redis_start_server: ServerFactory) -> None:
    server = await redis_start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        metrics = (await http.get("/metrics")).text
        health = await http.get("/healthz")
    assert "tickcast_bus_holes 0.0" in metrics
    assert health.status_code == 200
