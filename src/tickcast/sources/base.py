"""The contract every market-data source implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from tickcast.model.events import Event
from tickcast.model.markets import Market

EventSink = Callable[[Sequence[Event]], Awaitable[None]]
"""Where a source delivers its events, in batches, in publication order."""


class Pressure:
    """Back-pressure of a node's clients, as a source may read it (a typed capability, not a hook).

    The node builds one and hands it to the sources that take one (``build_sources``, e.g. the
    benchmark source) when it constructs them. The parts of the node that deliver to clients
    register a probe (``add``): the hub (some shared subscriber's backlog is over its limit) and
    the Socket.IO feed (some connection fell off its direct path). A source that can slow down
    (``bench:rate=max``) reads ``backlogged()``; ``connections()`` counts the node's clients.
    """

    def __init__(self, *, connections: Callable[[], int] = lambda: 0) -> None:
        self._connections = connections
        self._probes: list[Callable[[], bool]] = []

    def add(self, probe: Callable[[], bool]) -> Callable[[], None]:
        """Register ``probe`` (True while its clients lag); returns its removal."""
        self._probes.append(probe)
        return lambda: self._probes.remove(probe)

    def backlogged(self) -> bool:
        """Whether any registered probe reports lagging clients."""
        return any(probe() for probe in self._probes)

    def connections(self) -> int:
        """How many clients are connected to the node (every dialect)."""
        return self._connections()


@runtime_checkable
class Source(Protocol):
    """A producer of normalised market events.

    ``markets()`` lists what the source publishes (known before ``run``); ``run`` delivers
    events to the sink until the task is cancelled.
    """

    name: str

    def markets(self) -> list[Market]:
        """The markets this source publishes events for."""
        ...

    async def run(self, sink: EventSink) -> None:
        """Produce events into ``sink`` until cancelled."""
        ...


@runtime_checkable
class PrimedSource(Source, Protocol):
    """A source whose first events the node publishes before it reports ready (the simulator:
    every book, ticker and metric exists from the first instant); ``run`` then goes on from
    there."""

    def prime(self) -> list[Event]:
        """The initial events (called once, before ``run``)."""
        ...
