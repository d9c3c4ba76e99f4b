"""Clocks: everything that needs "now" takes a Clock, so tests can drive time by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of wall-clock and monotonic time, both in nanoseconds."""

    def time_ns(self) -> int:
        """UTC wall-clock time in nanoseconds since the epoch."""
        ...

    def monotonic_ns(self) -> int:
        """Monotonic time in nanoseconds (CLOCK_MONOTONIC)."""
        ...


class SystemClock:
    """The real clock."""

    def time_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class ManualClock:
    """A clock that only moves when told to; for tests and deterministic simulation."""

    def __init__(self, *, start_ns: int = 1_767_225_600_000_000_000) -> None:
        self._wall = start_ns
        self._mono = 0

    def time_ns(self) -> int:
        return self._wall

    def monotonic_ns(self) -> int:
        return self._mono

    def advance(self, nanoseconds: int) -> None:
        """Move both clocks forward."""
        if nanoseconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._wall += nanoseconds
        self._mono += nanoseconds
