"""The garbage collector's schedule in a serving process (issue 20 point 5, docs/performance.md).

A node keeps hundreds of thousands to millions of events in long-lived buffers (resume
history, the recorder, derived state, the history writer's queue). CPython 3.11 collects by
allocation counts: with ingest running, the buffers' new objects sit in the young generations
until a count is crossed, and a collection then walks all of them at once. Measured under a
saturating simulator with the old thresholds (50 000, 20, 100): a generation-1 collection of
about a million objects every few seconds, 0.4-1.1 s of CPU with the GIL held, and young
collections growing to 100 ms once the buffers were full (the allocation count then rises
slowly, so the young list grows between collections). That was the 0.3-2 s tail of ``/metrics``
and of every other request.

So a serving process collects its young generations by time instead: every
``YOUNG_PERIOD_S`` on the event loop, ``gc.collect(1)`` walks what was allocated since the
previous tick and is still alive (a few thousand objects, a few milliseconds) and moves it to
the oldest generation, where only a full collection walks it again. The counting thresholds stay
as a safety net (an allocation burst between ticks, a loop that is blocked) with generation 1
collected at every other collection. A full collection, whose pause grows with the whole heap,
runs on the tick once ``FULL_AFTER_S`` worth of young collections have run since the last one:
it frees the cycles that outlived a tick (a closed connection's objects, say), which nothing
else would collect, since the ticks keep the allocation count from ever triggering one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

YOUNG_PERIOD_S = 0.05
"""How often the loop collects the young generations."""

FULL_AFTER_S = 1_800.0
"""Ticks (plus any automatic generation-1 collections) before a full collection runs."""

GC_THRESHOLDS = (50_000, 0, round(FULL_AFTER_S / YOUNG_PERIOD_S))
"""Automatic collection: generation 0 after 50 000 net new objects between ticks, generation 1
every other time, generation 2 after ``FULL_AFTER_S`` of ticks (and CPython's own rule: only
when a quarter of the old generation is new since the last full collection)."""


class YoungCollector:
    """Collects generations 0 and 1 every ``period`` seconds on the running loop.

    Skips a tick while collection is disabled (a history read pauses it around a bulk of new
    rows that hold no cycles, ``history.segments.gc_paused``)."""

    def __init__(self, period: float = YOUNG_PERIOD_S, *, full_after: int = 0) -> None:
        self.period = period
        self.full_after = full_after or GC_THRESHOLDS[2]
        """Young collections (``gc.get_count()[2]``) before a tick makes a full collection."""
        self.ticks = 0
        self.full_collections = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def tick(self) -> None:
        """One young collection, now (what the timer runs); a full one when it is due."""
        if not gc.isenabled():
            return
        if gc.get_count()[2] >= self.full_after:
            gc.collect(2)
            self.full_collections += 1
        else:
            gc.collect(1)
        self.ticks += 1

    def start(self) -> None:
        """Start ticking on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="young-gc")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.tick()


def configure() -> None:
    """The process-wide part: the thresholds above."""
    gc.set_threshold(*GC_THRESHOLDS)
