"""The bus contract.

- ``publish`` assigns each event the next dense seq of its stream (from 1) and the stream's
  epoch, appends it to the stream's bounded history and delivers it to every listener, in that
  order and atomically with respect to other publishes of the same stream.
- The epoch changes whenever history was lost (a memory bus restarting, a Redis history wiped), so
  a client's (epoch, seq) can never silently point at a different event.
- ``history`` returns what is still held of a stream's current epoch.
The bus knows nothing of connections, dialects or sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tickcast.errors import BusError
from tickcast.model import Envelope, Event, StreamPosition

Listener = Callable[[Sequence[Envelope]], None]
"""Receives envelopes in publish order; must not block."""


class Listeners:
    """The listeners of a bus, in registration order (every bus implementation uses this)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns the function that removes it (idempotent)."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def deliver(self, envelopes: Sequence[Envelope]) -> None:
        """Hand ``envelopes`` to every listener (one added meanwhile waits for the next batch)."""
        for listener in list(self._listeners):
            listener(envelopes)

    def clear(self) -> None:
        self._listeners.clear()


class Chain:
    """One producer's batches in flight together on a pipelining bus (``RedisBus.publish(...,
    chain=)``): once one of them fails, the bus applies none of the later ones (they fail with
    the same error), so the producer republishing them keeps its order. A fresh chain per run."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: BusError | None = None
        """The first failure of a batch of the chain (later batches fail with it)."""


class Bus(Protocol):
    async def publish(self, events: Sequence[Event]) -> list[Envelope]:
        """Sequence, store and deliver a batch of events (each goes to its own stream)."""
        ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Register a listener for every stream; returns a function that removes it."""
        ...

    async def position(self, stream: str) -> StreamPosition:
        """The stream's last seq (0 if none yet) and its epoch."""
        ...

    async def history(self, stream: str) -> list[Envelope]:
        """The envelopes the bus still holds for the stream's current epoch, oldest first."""
        ...

    def streams(self) -> list[str]:
        """Streams that have had at least one event."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
