"""``history:FROM..TO[,speed=1|10|max][,wait=N],store=URL``: a source replaying stored history.

Every event of every stream stored with a time in ``FROM..TO`` (RFC 3339, either side may be
empty) is published again, in the order it was first published (the store's insertion order),
paced by the events' times at ``speed`` (``max``: as fast as the bus takes them), once ``wait``
stream subscriptions exist. The markets are the definitions stored with the history, so every
dialect renders the events as live clients got them: replayed from the start of an epoch, the
native ``Update`` frames are byte-identical to the live ones (tests/integration/
test_history_replay.py). ``store=`` names the history store to read (``sqlite:///PATH`` or
``postgresql://...``) and comes last (a URL may hold commas); the replaying server should keep its
own history elsewhere (or ``history = "off"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tickcast.clock import Clock
from tickcast.errors import ConfigError
from tickcast.history.base import HistoryStore
from tickcast.history.factory import history_opener
from tickcast.model import Event, Market
from tickcast.model.timefmt import parse_rfc3339_ns
from tickcast.sources.base import EventSink
from tickcast.sources.replay.pacing import Pacer

PREFIX = "history:"
CHUNK = 10_000
MAX_BATCH = 256
MIN_SLEEP_NS = 1_000_000
WAIT_POLL_S = 0.01


@dataclass(frozen=True, slots=True)
class HistoryReplay:
    start_ns: int | None
    end_ns: int | None
    store: str
    speed: float | None = 1.0
    wait: int = 0


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"config key 'sources': bad value {spec[:80]!r} ({why})")


def parse_history_spec(spec: str) -> HistoryReplay:
    """The options of a ``history:...`` source spec (ConfigError naming what is wrong)."""
    body, sep, store = spec.removeprefix(PREFIX).partition(",store=")
    if not spec.startswith(PREFIX) or not sep or not store.strip():
        raise _bad(spec, "history:FROM..TO[,speed=...][,wait=N],store=URL")
    span, *options = body.split(",")
    start, dots, end = span.partition("..")
    if not dots:
        raise _bad(spec, "the range is FROM..TO (RFC 3339, either may be empty)")
    try:
        bounds = [parse_rfc3339_ns(t.strip()) if t.strip() else None for t in (start, end)]
    except ValueError as exc:
        raise _bad(spec, str(exc)) from None
    speed: float | None = 1.0
    wait = 0
    for option in options:
        key, _, value = (part.strip() for part in option.partition("="))
        if key == "speed" and value == "max":
            speed = None
        elif key == "speed" and value.replace(".", "", 1).isdigit() and float(value) > 0:
            speed = float(value)
        elif key == "wait" and value.isdigit():
            wait = int(value)
        else:
            raise _bad(spec, f"unknown option {option.strip()!r}; known: speed, wait, store")
    return HistoryReplay(bounds[0], bounds[1], store.strip(), speed, wait)


def _markets(open_store: Callable[[], HistoryStore]) -> list[Market]:
    """The stored market definitions, read on a thread of its own (a node is built inside or
    outside a running event loop)."""

    async def load() -> list[Market]:
        store = open_store()
        await store.open()
        try:
            return await store.markets()
        finally:
            await store.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(load())).result()


class HistorySource:
    name = "history"

    def __init__(
        self,
        options: HistoryReplay,
        *,
        clock: Clock,
        subscribers: Callable[[], int] | None = None,
    ) -> None:
        opener = history_opener(options.store, data_dir="")
        if opener is None:
            raise ConfigError("config key 'sources': a history source needs store=URL")
        self.options = options
        self._open_store = opener
        self._clock = clock
        self._subscribers = subscribers
        self._markets = _markets(opener)
        self.published = 0

    def markets(self) -> list[Market]:
        return list(self._markets)

    async def run(self, sink: EventSink) -> None:
        await self._wait_for_subscribers()
        store = self._open_store()
        await store.open()
        try:
            await self._play(store, sink)
        finally:
            await store.close()

    async def _play(self, store: HistoryStore, sink: EventSink) -> None:
        pacer = Pacer(clock=self._clock, speed=self.options.speed)
        start, end = self.options.start_ns, self.options.end_ns
        batch: list[Event] = []
        after = 0
        while rows := await store.scan(start, end, after=after, limit=CHUNK):
            for row in rows:
                delay = pacer.delay_ns(row.time_ns)
                if delay >= MIN_SLEEP_NS:
                    batch = await self._flush(sink, batch)
                    await asyncio.sleep(delay / 1e9)
                batch.append(row.event)
                if len(batch) >= MAX_BATCH:
                    batch = await self._flush(sink, batch)
                    await asyncio.sleep(0)
            after = rows[-1].id
        await self._flush(sink, batch)

    async def _flush(self, sink: EventSink, batch: list[Event]) -> list[Event]:
        if batch:
            self.published += len(batch)
            await sink(batch)
        return []

    async def _wait_for_subscribers(self) -> None:
        wanted = self.options.wait
        if wanted <= 0 or self._subscribers is None:
            return
        while True:  # polled: the hub has no subscription event to wait on (as ReplaySource)
            if self._subscribers() >= wanted:
                return
            await asyncio.sleep(WAIT_POLL_S)
