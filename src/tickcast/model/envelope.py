"""Envelopes: an event plus its place in its stream."""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.model.events import Event


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a stream stands. ``seq`` is dense from 1; ``epoch`` changes when history was lost."""

    seq: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Envelope:
    stream: str
    seq: int
    epoch: str
    event: Event
    published_ns: int
    """Monotonic time the bus accepted the event (for latency measurement)."""

    @property
    def position(self) -> StreamPosition:
        return StreamPosition(self.seq, self.epoch)
