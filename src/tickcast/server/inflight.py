"""A source's sink that keeps batches in flight on a pipelining bus (the Redis bus).

``Node.publish`` awaits each batch's sequencing, so a single source's batches never overlap: the
next batch is handed over only once Redis has answered the last one. ``InFlight`` hands batch k+1
to the bus while batch k's reply is outstanding, up to ``WINDOW`` batches; the source waits
beyond that (back-pressure). What stays as it was:

- order: batches are annotated (book checksums) and submitted in the source's order, one bus
  publish each, and the bus applies and delivers them in that order (its publisher sends them in
  order, fenced; ``bus.redis_publish``);
- failures: the batches in flight form a ``Chain``; once one fails with ``BusError`` the bus
  applies none of the later ones, so they are republished, already annotated, in order, after
  the same backoff as ``server.cluster.publish_retrying`` (the source is not told: it waits, as
  it does on ``Node.publish``). Any other error reaches the source at its next hand-over or at
  ``flush`` (and the batches after it are dropped, as a source failing drops what it had);
- the publish HTTP API does not use this sink: it answers after its events are sequenced.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from tickcast.bus.base import Chain
from tickcast.errors import BusError
from tickcast.model import Event

logger = logging.getLogger("tickcast.server")

WINDOW = 4
"""A source's batches in flight at once (each is one bus publish of at most ``PUBLISH_SLICE``)."""

Submit = Callable[[list[Event], Chain], Coroutine[Any, Any, None]]
"""Sequence, record and count one annotated batch as part of a chain (``Node``)."""


class InFlight:
    """One source's sink with up to ``window`` batches in flight (module docstring)."""

    def __init__(
        self,
        submit: Submit,
        annotate: Callable[[Sequence[Event]], list[Event]],
        *,
        window: int = WINDOW,
        slice_size: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._submit = submit
        self._annotate = annotate
        self._window = window
        self._slice = slice_size
        self._sleep = sleep
        self._batches: deque[tuple[list[Event], asyncio.Task[None]]] = deque()
        self._chain = Chain()
        self._delay = 0.05
        self.max_in_flight = 0
        """The most batches seen in flight at once (tests, benchmarks)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """The source's sink: returns once the batch is handed to the bus (sequencing goes on)
        and at most ``window`` batches are in flight."""
        for start in range(0, len(events), self._slice):
            if start:
                await asyncio.sleep(0)
            while len(self._batches) >= self._window:
                await self._settle()
            self._start(self._annotate(events[start : start + self._slice]))

    async def flush(self) -> None:
        """Wait until every batch handed over is sequenced (retrying as the sink does)."""
        while self._batches:
            await self._settle()

    async def close(self, within: float = 1.0) -> None:
        """The source stopped: let the batches in flight finish (so what Redis sequenced is also
        recorded), for at most ``within`` seconds and without retrying; cancel the rest."""
        tasks = [task for _, task in self._batches]
        self._batches.clear()
        if tasks:
            await asyncio.wait(tasks, timeout=within)
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: a failure at stop is not logged as unhandled

    def _start(self, annotated: list[Event]) -> None:
        task = asyncio.create_task(self._submit(annotated, self._chain))
        self._batches.append((annotated, task))
        self.max_in_flight = max(self.max_in_flight, len(self._batches))

    async def _settle(self) -> None:
        """Wait for the oldest batch; on a bus failure republish it and every later one."""
        task = self._batches[0][1]
        try:
            await task
        except BusError as error:
            await self._retry(error)
            return
        except BaseException:
            self._batches.popleft()
            raise
        self._batches.popleft()
        self._delay = 0.05

    async def _retry(self, error: BusError) -> None:
        batches = list(self._batches)
        self._batches.clear()
        outcomes = await asyncio.gather(*(task for _, task in batches), return_exceptions=True)
        again = [events for (events, _), out in zip(batches, outcomes, strict=True) if out]
        for outcome in outcomes:
            if outcome is not None and not isinstance(outcome, BusError):
                raise outcome
        logger.warning(
            "publish failed (%s); %d batches again in %.2f s", error, len(again), self._delay
        )
        await self._sleep(self._delay)
        self._delay = min(self._delay * 2, 2.0)
        self._chain = Chain()
        for events in again:
            self._start(events)
