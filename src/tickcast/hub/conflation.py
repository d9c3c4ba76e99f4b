"""Conflation as a delivery policy: a shared channel that sends only the newest frame of each
stream, on its own clock.

An encoder may carry ``conflation_s`` (the Socket.IO feed's ``FeedEncoder``, from the plan's
``conflation_ms``). The channels of its subscription sets are :class:`ConflatingChannel`\\ s:
``add`` keeps the newest payload per stream instead of queueing every one, and the first payload
after a quiet period arms ONE timer for the channel; when it fires, the channel flushes the
newest payload of each stream (in the order the streams first changed), to direct members as one
shared batch and to demoted members through their outboxes, exactly like a
:class:`~tickcast.delivery.channel.Channel`. So a client gets at most one frame per stream per
``conflation_s``, the newest; intermediate values are dropped, never queued; the cost is one
timer per channel with pending frames, whatever the number of connections, and nothing while
idle.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from tickcast.delivery.channel import Channel, Framing
from tickcast.hub.parts import Encoder

CallLater = Callable[[float, Callable[[], None]], Callable[[], None]]
"""``call_later(delay, callback)`` → a function that cancels the call."""


def conflation_of(encoder: Encoder) -> float:
    """The encoder's conflation interval in seconds (0: every frame)."""
    interval = getattr(encoder, "conflation_s", 0.0)
    return float(interval) if isinstance(interval, int | float) else 0.0


class ConflatingChannel(Channel):
    """A channel whose frames are conflated per stream and flushed every ``interval_s``."""

    __slots__ = ("_call_later", "_cancel", "_latest", "interval_s", "on_flushed")

    def __init__(
        self,
        key: Hashable,
        framing: Framing,
        *,
        interval_s: float,
        call_later: CallLater,
        on_demote: Callable[[int], None] | None = None,
        on_flushed: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(key, framing, on_demote=on_demote)
        self.interval_s = interval_s
        self._call_later = call_later
        self._cancel: Callable[[], None] | None = None
        self._latest: dict[str, tuple[str, int, bool, bytes]] = {}
        self.on_flushed = on_flushed
        """Called with the number of direct writes of each timed flush."""

    def add(self, stream: str, seq: int, state: bool, payload: bytes) -> bool:
        """Keep the newest payload of ``stream``; never asks for the pass's flush (False)."""
        self._latest[stream] = (stream, seq, state, payload)
        if self._cancel is None:
            cancel = self._call_later(self.interval_s, self._due)
            if self._latest:  # else the call ran at once (no event loop)
                self._cancel = cancel
        return False

    def _due(self) -> None:
        self._cancel = None
        if not self._latest:
            return
        self.pending = list(self._latest.values())
        self._latest = {}
        writes = self.flush()
        if self.on_flushed is not None:
            self.on_flushed(writes)

    def close(self) -> None:
        """The channel has no members left: stop its clock, drop what it held."""
        if self._cancel is not None:
            self._cancel()
            self._cancel = None
        self._latest = {}
