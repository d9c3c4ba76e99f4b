"""The dashboard's background sampler: charts and usage history kept while no dashboard is open.

One task per node, started with the app (``mount_dashboard`` wraps the app's lifespan), takes one
sample a second: the Overview's counters and gauges (``Series``), every connection's outbox
position (``ConnectionLags``) and, every ``usage_interval`` seconds, the store's usage totals per
key (``UsageSeries``). All three are bounded rings, so memory stays flat however long it runs.
Pages read them; a page read also samples when the last sample is due (a dashboard mounted on an
app whose lifespan does not run still works, with history only while watched).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tickcast.dashboard.backend import Backend
from tickcast.dashboard.lag import ConnectionLags
from tickcast.dashboard.presence import Presence
from tickcast.dashboard.sampler import Series, UsageSeries, sample_point
from tickcast.errors import TickcastError

logger = logging.getLogger("tickcast.dashboard")

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


@dataclass
class Recorder:
    backend: Backend
    series: Series = field(default_factory=Series)
    usage: UsageSeries = field(default_factory=UsageSeries)
    lags: ConnectionLags = field(default_factory=ConnectionLags)
    presence: Presence | None = None
    """This node's card for the other nodes' Overviews (Redis bus only; see ``presence.py``)."""
    interval: float = 1.0

    def __post_init__(self) -> None:
        if self.presence is None:
            self.presence = Presence(self.backend)

    def sample_connections(self, now: float) -> list[dict[str, object]]:
        """Every connection's ``info()``; a due Overview sample and the lag marks from them."""
        infos = [c.info() for c in list(self.backend.connections.values())]
        self.lags.observe(now, infos)
        if self.series.due(now):
            self.series.add(sample_point(now, self.backend.metrics.registry, infos))
        return infos

    async def sample_usage(self, now: float) -> None:
        if self.usage.due(now):
            self.usage.add(now, await self.backend.store.usage(None))

    async def tick(self) -> None:
        now = time.time()
        self.sample_connections(now)
        await self.sample_usage(now)
        if self.presence is not None:
            await self.presence.beat()

    async def run(self) -> None:
        while True:
            if self.backend.ready:
                try:
                    await self.tick()
                except TickcastError as error:  # a store or bus outage: the next tick tries again
                    logger.warning("dashboard sample: %s", error)
                except Exception:  # never let one bad sample end the history
                    logger.exception("dashboard sample failed")
            await asyncio.sleep(self.interval)


def with_recorder(inner: Lifespan, recorder: Recorder) -> Lifespan:
    """``inner`` (the app's lifespan) with the recorder running while the app serves."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            task = asyncio.create_task(recorder.run(), name="dashboard-recorder")
            try:
                yield state
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    return lifespan
