"""Binance's documented local order book procedure, sans-I/O, for one market.

Spot (``U``/``u`` continuity), from the Binance Spot API docs "How to manage a local order book
correctly": buffer depth events until a REST snapshot arrives; drop buffered events with
``u <= lastUpdateId``; then an event with ``u`` at or below the local update id is stale and
skipped, an event with ``U > local id + 1`` means updates were lost; otherwise apply it and set
the local id to ``u``.

USD-M and COIN-M futures (``pu`` continuity): drop events with ``u < lastUpdateId``; the first
event applied must have ``U <= lastUpdateId <= u``; after it every event's ``pu`` must equal the
previous event's ``u``.

A break is never papered over: the sync records a ``BookBreak``, publishes an empty book snapshot
(the book is unknown from here) and waits, buffering again, for the next REST snapshot (the
capture's next one in a replay; a fresh request in a live connector).

A snapshot older than the buffered events (the first buffered event past it does not bridge it) is
refused before anything is published: ``snapshot`` records a break, keeps the buffer and returns
no events, so the caller asks for a newer snapshot (the documented "get a new snapshot" step).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tickcast.model.events import BookDelta, BookSnapshot, Event, Level

MAX_BUFFER = 10_000
"""Depth events kept while waiting for a snapshot; older ones are dropped."""


@dataclass(frozen=True, slots=True)
class DepthEvent:
    """One ``depthUpdate`` in scaled integers. ``pu`` is None on spot."""

    first_id: int
    last_id: int
    previous_id: int | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    time_ns: int


@dataclass(frozen=True, slots=True)
class BookBreak:
    """Lost depth updates: ``expected`` was the next id the book needed, ``got`` what came."""

    market: str
    expected: int
    got: int
    time_ns: int
    reason: str


class BinanceBookSync:
    """Feed depth events and snapshots of one market in capture order; get book events back."""

    def __init__(self, market: str, *, futures: bool) -> None:
        self.market = market
        self.futures = futures
        self.breaks: list[BookBreak] = []
        self._buffer: deque[DepthEvent] = deque(maxlen=MAX_BUFFER)
        self._local_id: int | None = None
        """None while unsynced (buffering)."""
        self._first = False

    @property
    def synced(self) -> bool:
        return self._local_id is not None

    def snapshot(
        self, last_update_id: int, bids: tuple[Level, ...], asks: tuple[Level, ...], time_ns: int
    ) -> list[Event]:
        """A REST depth snapshot: (re)start the book, then apply the buffered events.

        Returns no events (and records a break) when the snapshot is older than the buffer."""
        stale = self._stale(last_update_id)
        if stale is not None:
            self.breaks.append(
                BookBreak(
                    self.market,
                    last_update_id,
                    stale.first_id,
                    time_ns,
                    "snapshot older than the buffered updates",
                )
            )
            return []
        events: list[Event] = [BookSnapshot(self.market, bids, asks, time_ns)]
        self._local_id = last_update_id
        self._first = True
        buffered, self._buffer = list(self._buffer), deque(maxlen=MAX_BUFFER)
        for depth in buffered:
            events.extend(self.depth(depth))
        return events

    def _stale(self, last_update_id: int) -> DepthEvent | None:
        """The first buffered event past the snapshot, if it leaves a hole after it."""
        for event in self._buffer:
            if self.futures and event.last_id >= last_update_id:
                return event if event.first_id > last_update_id else None
            if not self.futures and event.last_id > last_update_id:
                return event if event.first_id > last_update_id + 1 else None
        return None

    def depth(self, event: DepthEvent) -> list[Event]:
        """One depth update: buffered, skipped, applied, or a reported break."""
        local = self._local_id
        if local is None:
            self._buffer.append(event)
            return []
        if self.futures:
            return self._futures(event, local)
        return self._spot(event, local)

    def _spot(self, event: DepthEvent, local: int) -> list[Event]:
        if event.last_id <= local:
            return []
        if event.first_id > local + 1:
            return self._break(event, local + 1, event.first_id, "U beyond the local id + 1")
        return self._apply(event)

    def _futures(self, event: DepthEvent, local: int) -> list[Event]:
        if self._first:
            if event.last_id < local:
                return []
            if event.first_id > local:
                return self._break(event, local, event.first_id, "snapshot not bridged (U > id)")
            return self._apply(event)
        if event.previous_id != local:
            got = -1 if event.previous_id is None else event.previous_id
            return self._break(event, local, got, "pu differs from the previous u")
        return self._apply(event)

    def _apply(self, event: DepthEvent) -> list[Event]:
        self._local_id = event.last_id
        self._first = False
        return [BookDelta(self.market, event.bids, event.asks, event.time_ns)]

    def _break(self, event: DepthEvent, expected: int, got: int, reason: str) -> list[Event]:
        self.breaks.append(BookBreak(self.market, expected, got, event.time_ns, reason))
        self._local_id = None
        self._buffer.append(event)
        return [BookSnapshot(self.market, (), (), event.time_ns)]
