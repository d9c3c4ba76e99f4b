"""The contract every market-data source implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from tickcast.model.events import Event
from tickcast.model.markets import Market

EventSink = Callable[[Sequence[Event]], Awaitable[None]]
"""Where a source delivers its events, in batches, in publication order."""


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
