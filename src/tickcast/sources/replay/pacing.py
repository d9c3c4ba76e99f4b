"""Pacing, sans-I/O: when each recorded message is due at the chosen speed.

The first message plays at once; message ``n`` is due ``(local_n - local_0) / speed`` after it
on the injected clock's monotonic time. ``speed=None`` (``max``) never waits.
"""

from __future__ import annotations

from tickcast.clock import Clock


class Pacer:
    def __init__(self, *, clock: Clock, speed: float | None) -> None:
        self._clock = clock
        self.speed = speed
        self._origin: tuple[int, int] | None = None
        """(local ns of the first message, monotonic ns it played at)."""

    def delay_ns(self, local_ns: int) -> int:
        """How long to wait before playing a message received at ``local_ns``."""
        if self.speed is None:
            return 0
        now = self._clock.monotonic_ns()
        if self._origin is None:
            self._origin = (local_ns, now)
            return 0
        first_local, first_mono = self._origin
        due = first_mono + int((local_ns - first_local) / self.speed)
        return max(0, due - now)

    def restart(self) -> None:
        """The next message plays at once and sets a new origin (a new loop pass)."""
        self._origin = None
