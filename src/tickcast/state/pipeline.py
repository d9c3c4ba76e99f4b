"""The ingest pipeline: the node's one bus listener, running every stage in a documented order.

Each batch of sequenced envelopes the bus delivers goes through the stages in the order of
their :class:`Step`, whatever order they were added in (stages of one step run in the order
added). Every stage is isolated: an exception is logged, counted (``failures`` and the
``on_failure`` callback, which the node turns into ``tickcast_stage_failures{stage}``) and the
next stage still runs, so one broken consumer never starves the others.

==============  =========================================================================
step            stages (docs/design.md, "The ingest pipeline")
==============  =========================================================================
``DELIVER``     the hub: folds each event into the state keeper (books, tickers, candles,
                positions), then encodes it once per subscribed group and hands the frames
                to outboxes and shared channels (native and Coin Metrics)
``RECORD``      the recorder: history since start for REST queries (reads the keeper)
``DERIVE``      derived state of a dialect, computed once per event before that dialect
                sends anything (Vega's accounts, margins, orders and books)
``OBSERVE``     dialect feeds and watchers reading what the steps above computed (the
                Socket.IO price feed, the Coin Metrics catalogue, live predictions)
==============  =========================================================================

Sans-I/O: no asyncio here; a stage is a plain synchronous callable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from tickcast.model import Envelope

logger = logging.getLogger("tickcast.state")

StageFn = Callable[[Sequence[Envelope]], None]


class Step(IntEnum):
    """Where a stage runs in each batch (lower first)."""

    DELIVER = 10
    RECORD = 20
    DERIVE = 30
    OBSERVE = 40


@dataclass(slots=True)
class _Stage:
    step: Step
    order: int
    name: str
    run: StageFn


class Pipeline:
    """Ordered, isolated stages over each bus batch."""

    def __init__(self, *, on_failure: Callable[[str], None] | None = None) -> None:
        self._stages: tuple[_Stage, ...] = ()
        """In run order; replaced (not mutated) by ``add`` and ``remove``, so a batch running
        while a stage is added or removed keeps the tuple it started with."""
        self._added = 0
        self.failures: dict[str, int] = {}
        """Exceptions raised per stage name since start."""
        self.on_failure = on_failure

    def add(self, step: Step, name: str, stage: StageFn) -> Callable[[], None]:
        """Run ``stage`` on every batch at ``step``; returns a function that removes it."""
        self._added += 1
        entry = _Stage(step, self._added, name, stage)
        self._stages = tuple(sorted((*self._stages, entry), key=lambda s: (s.step, s.order)))

        def remove() -> None:
            self._stages = tuple(stage for stage in self._stages if stage is not entry)

        return remove

    @property
    def names(self) -> list[str]:
        """The stages' names in the order they run."""
        return [stage.name for stage in self._stages]

    def on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        for stage in self._stages:
            try:
                stage.run(envelopes)
            except Exception:
                self._failed(stage.name)

    def _failed(self, name: str) -> None:
        self.failures[name] = self.failures.get(name, 0) + 1
        logger.exception("pipeline stage %s failed on a batch; the other stages ran", name)
        if self.on_failure is not None:
            try:
                self.on_failure(name)
            except Exception:
                logger.exception("counting the failure of stage %s failed", name)
