"""In-memory usage metering and per-user concurrent connection counting.

The server counts into a :class:`Meter` on the hot path (plain integer additions, no I/O) and
periodically moves :meth:`Meter.drain` into the store, which keeps the running totals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    """Usage counters of one key (a delta or a total, depending on who holds it)."""

    connections: int = 0
    """Connections opened."""
    connection_seconds: float = 0.0
    """Seconds spent connected, counted when a connection closes."""
    messages: int = 0
    """Messages delivered."""
    bytes: int = 0
    """Bytes delivered."""
    predictions: int = 0
    """Prediction messages delivered (also counted in ``messages``)."""

    def add(self, other: Usage) -> None:
        """Add another usage's counters into this one."""
        self.connections += other.connections
        self.connection_seconds += other.connection_seconds
        self.messages += other.messages
        self.bytes += other.bytes
        self.predictions += other.predictions

    def copy(self) -> Usage:
        return Usage(
            connections=self.connections,
            connection_seconds=self.connection_seconds,
            messages=self.messages,
            bytes=self.bytes,
            predictions=self.predictions,
        )


class Meter:
    """Per-key usage counters accumulated since the last :meth:`drain`."""

    def __init__(self) -> None:
        self._pending: dict[str, Usage] = {}

    def _usage(self, key_id: str) -> Usage:
        usage = self._pending.get(key_id)
        if usage is None:
            usage = self._pending[key_id] = Usage()
        return usage

    def connection_opened(self, key_id: str) -> None:
        """Count a new connection made with ``key_id``."""
        self._usage(key_id).connections += 1

    def connection_closed(self, key_id: str, seconds: float) -> None:
        """Count the connected time of a connection that just closed."""
        if seconds < 0:
            raise ValueError("connection time cannot be negative")
        self._usage(key_id).connection_seconds += seconds

    def delivered(self, key_id: str, messages: int, nbytes: int, *, predictions: int = 0) -> None:
        """Count messages (of which ``predictions`` were predictions) and bytes sent."""
        if messages < 0 or nbytes < 0 or predictions < 0:
            raise ValueError("usage counts cannot be negative")
        usage = self._usage(key_id)
        usage.messages += messages
        usage.bytes += nbytes
        usage.predictions += predictions

    def snapshot(self) -> dict[str, Usage]:
        """Copies of the counters accumulated since the last drain (nothing is reset)."""
        return {key_id: usage.copy() for key_id, usage in self._pending.items()}

    def drain(self) -> dict[str, Usage]:
        """The counters accumulated since the last drain, resetting them (for flushing)."""
        pending, self._pending = self._pending, {}
        return pending

    def add(self, deltas: dict[str, Usage]) -> None:
        """Add counters back, e.g. those of a drain whose flush failed (kept for the next)."""
        for key_id, usage in deltas.items():
            self._usage(key_id).add(usage)


class ConnectionCounter:
    """Concurrent connections per user, for the plan's ``max_connections`` limit.

    Not thread-safe; meant for one event loop, where acquire and release cannot interleave.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def try_acquire(self, user: str, limit: int) -> bool:
        """Take a connection slot for ``user`` if fewer than ``limit`` are taken."""
        current = self._counts.get(user, 0)
        if current >= limit:
            return False
        self._counts[user] = current + 1
        return True

    def release(self, user: str) -> None:
        """Give back a slot taken by :meth:`try_acquire`; ValueError if none is held."""
        current = self._counts.get(user, 0)
        if current <= 0:
            raise ValueError(f"no connection slot held for user {user!r}")
        if current == 1:
            del self._counts[user]
        else:
            self._counts[user] = current - 1

    def count(self, user: str) -> int:
        """Slots currently held by ``user``."""
        return self._counts.get(user, 0)

    def total(self) -> int:
        """Slots currently held by all users."""
        return sum(self._counts.values())
