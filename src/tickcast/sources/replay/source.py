"""``ReplaySource``: recorded exchange data (or a tickcast recording) through the normal bus.

A first pass over the files finds the markets and their decimals (so the catalogue knows them
before the node starts); ``run`` then reads the files again, decodes each record in local-time
order and publishes its events, paced by the recorded local times at the chosen speed.
"""

from __future__ import annotations

import asyncio
import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

from tickcast.clock import Clock
from tickcast.errors import ConfigError
from tickcast.model.events import Event
from tickcast.model.markets import Market
from tickcast.sources.base import EventSink
from tickcast.sources.replay import files
from tickcast.sources.replay.binance import BinanceDecoder, BinanceScan
from tickcast.sources.replay.binance_book import BookBreak
from tickcast.sources.replay.pacing import Pacer
from tickcast.sources.replay.recording import RecordingDecoder, parse_header
from tickcast.sources.replay.spec import ReplayOptions
from tickcast.sources.replay.tardis import TardisDecoder, TardisScan

logger = logging.getLogger("tickcast.sources.replay")

MAX_BATCH = 256
"""Events per sink call at ``speed=max``; the loop is yielded to between batches."""
MIN_SLEEP_NS = 1_000_000
"""Messages due within 1 ms of each other are published together."""
WAIT_POLL_S = 0.01
SECOND = 1_000_000_000


class ReplaySource:
    """A ``Source`` replaying files; see ``docs/sources.md``."""

    name = "replay"

    def __init__(
        self,
        options: ReplayOptions,
        *,
        clock: Clock,
        subscribers: Callable[[], int] | None = None,
    ) -> None:
        self.options = options
        self._clock = clock
        self._subscribers = subscribers
        self._files = [(path, files.detect(path)) for path in files.expand(options.path)]
        self._scan()
        self._past_breaks: list[BookBreak] = []
        self._decoder = BinanceDecoder(self._binance)
        self.passes = 0
        """Completed passes over the files."""
        self.published = 0

    @property
    def breaks(self) -> list[BookBreak]:
        """Every depth-continuity break met so far (each also logged as a warning)."""
        return self._past_breaks + self._decoder.breaks

    def markets(self) -> list[Market]:
        markets: dict[str, Market] = {}
        for group in (self._binance, self._tardis, self._recorded):
            for market in group.values():
                markets[market.id] = market
        return list(markets.values())

    async def run(self, sink: EventSink) -> None:
        """Wait for the audience (``wait=N``), then play the files once or forever (``loop``)."""
        await self._wait_for_subscribers()
        pacer = Pacer(clock=self._clock, speed=self.options.speed)
        while True:
            await self._play(sink, pacer)
            self.passes += 1
            logger.info("replay of %s: pass %d done", self.options.path, self.passes)
            if not self.options.loop:
                return
            pacer.restart()

    # -- internals -------------------------------------------------------------------------

    def _scan(self) -> None:
        binance = BinanceScan(kind=self.options.kind)
        tardis = TardisScan()
        recorded: dict[str, Market] = {}
        first = last = None
        where = ""
        try:
            for path, fmt in self._files:
                where = str(path)
                if fmt == "recording":
                    with files.open_text(path) as stream:
                        markets, _ = parse_header(stream.readline())
                    recorded.update((market.id, market) for market in markets)
                for number, (local_ns, _, item) in enumerate(files.read(path, fmt), 1):
                    where = f"{path}, record {number}"
                    first = local_ns if first is None else min(first, local_ns)
                    last = local_ns if last is None else max(last, local_ns)
                    if fmt == "binance":
                        binance.feed(item)
                    elif fmt == "tardis":
                        for row in item[1]:
                            tardis.feed(item[0], row)
        except KeyError as error:
            raise ConfigError(f"replay {where}: unreadable data (no field {error})") from None
        except (ValueError, TypeError, IndexError, OSError, EOFError, csv.Error) as error:
            raise ConfigError(f"replay {where}: unreadable data ({error})") from None
        span = 0 if first is None or last is None else last - first
        # the event-time shift between loop passes: the files' local-time span, whole seconds
        self.period_ns = -(-(span + 1) // SECOND) * SECOND
        self._binance = binance.markets()
        self._tardis = tardis.markets()
        self._recorded = recorded

    def _events(self) -> Iterator[tuple[int, list[Event]]]:
        """(local ns, events) of every record of one pass, with fresh decoders; pass ``k``
        (from 0) shifts event times by ``k * period_ns`` so a looped replay keeps time moving."""
        shift = self.passes * self.period_ns
        self._past_breaks.extend(self._decoder.breaks)
        binance = self._decoder = BinanceDecoder(self._binance)
        tardis = TardisDecoder(self._tardis)
        recorded = RecordingDecoder(list(self._recorded.values()))
        for local_ns, fmt, item in files.records(self._files):
            if fmt == "binance":
                events = binance.decode(item)
            elif fmt == "tardis":
                events = tardis.decode(*item)
            else:
                events = recorded.decode(item)
            if events and shift:
                events = [replace(event, time_ns=event.time_ns + shift) for event in events]
            if events:
                yield local_ns, events

    async def _play(self, sink: EventSink, pacer: Pacer) -> None:
        batch: list[Event] = []
        for local_ns, events in self._events():
            delay = pacer.delay_ns(local_ns)
            if delay >= MIN_SLEEP_NS:
                await self._flush(sink, batch)
                batch = []
                await asyncio.sleep(delay / 1e9)
            batch.extend(events)
            if len(batch) >= MAX_BATCH:
                await self._flush(sink, batch)
                batch = []
                await asyncio.sleep(0)
        await self._flush(sink, batch)

    async def _flush(self, sink: EventSink, batch: list[Event]) -> None:
        if batch:
            self.published += len(batch)
            await sink(batch)

    async def _wait_for_subscribers(self) -> None:
        wanted = self.options.wait
        if wanted <= 0 or self._subscribers is None:
            return
        logger.info("replay of %s waits for %d subscriptions", self.options.path, wanted)
        while True:  # polled: the hub has no subscription event to wait on
            if self._subscribers() >= wanted:
                return
            await asyncio.sleep(WAIT_POLL_S)
