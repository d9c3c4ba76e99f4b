"""Per-connection lag: how long the oldest byte still queued in a connection's outbox has waited.

Measured from what every connection's ``info()`` already gives, nothing added to the hot path:
``bytes`` (written to the client so far) and ``pending_bytes`` (queued in the outbox). Their sum is
the connection's *enqueued* byte position. Every sample (about once a second, by the recorder)
remembers ``(time, enqueued position)`` whenever it moved. The oldest queued byte is byte number
``bytes``; it was enqueued at or before the first remembered sample whose position passed it, so

    lag = now - (time of the first sample with position > bytes)

is a lower bound of its age with the sampling period as resolution (0 when the outbox is empty).
A connection first seen with a full outbox shows the time since it was first seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

MAX_MARKS = 900
"""Samples kept per connection (15 min at 1 Hz while it is stuck; older ones are forgotten and
the lag then shows the age of the oldest kept one: still a lower bound)."""


def _int(info: dict[str, object], name: str) -> int:
    value = info.get(name, 0)
    return value if isinstance(value, int) else 0


class ConnectionLags:
    """``(time, enqueued position)`` marks per connection id."""

    def __init__(self) -> None:
        self._marks: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, now: float, infos: Iterable[dict[str, object]]) -> None:
        """Record every live connection's position; forget the connections that are gone."""
        live: set[str] = set()
        for info in infos:
            cid = str(info.get("id"))
            live.add(cid)
            sent, pending = _int(info, "bytes"), _int(info, "pending_bytes")
            if pending <= 0:  # nothing queued: no lag, and no marks kept for an idle connection
                self._marks.pop(cid, None)
                continue
            marks = self._marks.setdefault(cid, deque())
            while len(marks) > 1 and marks[1][1] <= sent:
                marks.popleft()  # a mark is needed only until the bytes after it are sent
            if not marks or marks[-1][1] != sent + pending:
                marks.append((now, sent + pending))
            while len(marks) > MAX_MARKS:
                marks.popleft()
        for gone in self._marks.keys() - live:
            del self._marks[gone]

    def lag(self, now: float, info: dict[str, object]) -> float:
        """Seconds the oldest queued byte of this connection has waited (a lower bound)."""
        sent, pending = _int(info, "bytes"), _int(info, "pending_bytes")
        if pending <= 0:
            return 0.0
        for t, position in self._marks.get(str(info.get("id")), ()):
            if position > sent:
                return max(0.0, round(now - t, 1))
        return 0.0
