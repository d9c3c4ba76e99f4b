"""MemoryBus: the single-process bus. History lives in memory, so a restart starts a new epoch."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from tickcast.bus.base import Listener, Listeners
from tickcast.bus.names import stream_name
from tickcast.clock import Clock, SystemClock
from tickcast.delivery.history import StreamHistory
from tickcast.model import Envelope, Event, StreamPosition


class MemoryBus:
    """In-process bus with bounded per-stream history."""

    def __init__(
        self, *, history_size: int = 10_000, clock: Clock | None = None, epoch: str | None = None
    ) -> None:
        self._history_size = history_size
        self._clock = clock or SystemClock()
        self.epoch = epoch or secrets.token_hex(4)
        self._last: dict[str, int] = {}
        self._history: dict[str, StreamHistory] = {}
        self._listeners = Listeners()

    async def publish(self, events: Sequence[Event]) -> list[Envelope]:
        return self.publish_nowait(events)

    def publish_nowait(self, events: Sequence[Event]) -> list[Envelope]:
        """Synchronous publish (the memory bus never waits)."""
        now = self._clock.monotonic_ns()
        envelopes: list[Envelope] = []
        for event in events:
            stream = stream_name(event)
            seq = self._last.get(stream, 0) + 1
            self._last[stream] = seq
            envelope = Envelope(stream, seq, self.epoch, event, now)
            history = self._history.get(stream)
            if history is None:
                history = self._history[stream] = StreamHistory(max_events=self._history_size)
            history.append(envelope)
            envelopes.append(envelope)
        if envelopes:
            self._listeners.deliver(envelopes)
        return envelopes

    def listen(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def position(self, stream: str) -> StreamPosition:
        return StreamPosition(self._last.get(stream, 0), self.epoch)

    async def history(self, stream: str) -> list[Envelope]:
        history = self._history.get(stream)
        return history.items() if history is not None else []

    def streams(self) -> list[str]:
        return sorted(self._last)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._listeners.clear()
