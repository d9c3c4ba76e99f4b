"""Resume planning: given where a client stands and what history still has, decide how to catch up.

Rules (DESIGN §3), which no caller may break:
- same epoch and every missed event still in history → replay them, then live;
- otherwise a STATE stream gets a fresh snapshot marked as a reset;
- otherwise an EVENT stream gets an explicit gap notice naming the missing range, then whatever
  history still holds after the hole, then live.
Never silent loss, never a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tickcast.model import Envelope, StreamPosition


class GapReason(StrEnum):
    HISTORY = "history"
    """The missed events fell out of the bounded history."""
    EPOCH = "epoch"
    """The stream's history was lost (new epoch); the old epoch's tail is gone."""
    OVERFLOW = "overflow"
    """The client did not keep up and events were dropped from its outbox."""


@dataclass(frozen=True, slots=True)
class Replay:
    envelopes: tuple[Envelope, ...]


@dataclass(frozen=True, slots=True)
class ResetSnapshot:
    reason: GapReason


@dataclass(frozen=True, slots=True)
class GapThenReplay:
    from_seq: int
    to_seq: int
    reason: GapReason
    envelopes: tuple[Envelope, ...]


ResumePlan = Replay | ResetSnapshot | GapThenReplay


def plan_resume(
    *,
    state: bool,
    requested: StreamPosition,
    current: StreamPosition,
    history: Sequence[Envelope],
    max_replay: int | None = None,
) -> ResumePlan:
    """Plan a resume from ``requested`` given the stream's ``current`` position.

    ``history`` is what the bus still has of the stream in its current epoch (oldest first);
    ``max_replay`` caps how many events may be replayed (the plan's history depth).
    """
    same_epoch = requested.epoch == current.epoch and requested.seq <= current.seq
    reason = GapReason.HISTORY if same_epoch else GapReason.EPOCH
    start = requested.seq + 1 if same_epoch else 1
    available = [envelope for envelope in history if envelope.seq >= start]
    if max_replay is not None and len(available) > max_replay:
        available = available[len(available) - max_replay :]
    first_available = available[0].seq if available else current.seq + 1
    if same_epoch and first_available == start:
        return Replay(tuple(available))
    if state:
        return ResetSnapshot(reason)
    return GapThenReplay(start, first_available - 1, reason, tuple(available))
