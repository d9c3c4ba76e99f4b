"""A serving process collects its young generations by time (app/collector.py) and shows every
collection's pause in ``/metrics`` (``tickcast_gc_pause_seconds``), current at each scrape."""

from __future__ import annotations

import asyncio
import re

import httpx


def _collections(metrics: str, generation: int) -> float:
    pattern = rf'^tickcast_gc_pause_seconds_count{{generation="{generation}"}} (\S+)$'
    match = re.search(pattern, metrics, re.MULTILINE)
    assert match, metrics
    return float(match.group(1))


async def test_the_young_collector_runs_while_serving_and_metrics_count_its_pauses(
    start_server,
) -> None:
    server = await start_server()
    assert server.uvicorn is not None
    young = server.uvicorn.young_gc
    assert young.running
    async with httpx.AsyncClient(base_url=server.http) as http:
        before = _collections((await http.get("/metrics")).text, 1)
        young.tick()
        young.tick()
        metrics = (await http.get("/metrics")).text
    assert _collections(metrics, 1) >= before + 2
    assert 'tickcast_gc_pause_seconds_bucket{generation="2",le="+Inf"}' in metrics
    server.uvicorn.should_exit = True
    async with asyncio.timeout(15):
        while young.running:
            await asyncio.sleep(0.01)
