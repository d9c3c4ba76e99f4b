"""The connector runner: drives any ``VenueFeed`` over real WebSockets and REST (the I/O half).

``ConnectorSource`` is a ``Source``: ``prepare`` reads the venue's instrument list (markets with the
venue's tick and lot), ``run`` shards the instruments over connections and keeps each one alive.
Per connection one consumer task feeds the feed, in arrival order, with WebSocket messages,
REST answers and a heartbeat every second, and carries out the commands it returns
(``protocol.py``). Reconnects back off exponentially with jitter; REST requests share the venue's
weight budget; trades lost in a reconnect are backfilled from REST recent trades where the venue
has them, otherwise counted and logged as a trades gap (docs/connectors.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from tickcast.clock import Clock, SystemClock
from tickcast.errors import ConfigError
from tickcast.model.events import Event, Trade, TradesGap
from tickcast.model.markets import Market
from tickcast.sources.base import EventSink
from tickcast.sources.connectors.backfill import ENDS_EARLY, recovered
from tickcast.sources.connectors.health import Backoff, ConnectorHealth, RateLimiter
from tickcast.sources.connectors.inputs import Backfill, Closed, Input, Message, Rest, Tick
from tickcast.sources.connectors.protocol import (
    Command,
    FetchSnapshot,
    Instrument,
    Publish,
    Reconnect,
    Resynced,
    Send,
    TradesLost,
    VenueFeed,
)
from tickcast.sources.connectors.spec import ConnectorSpec, FeedOptions, VenueDef

logger = logging.getLogger("tickcast.sources.connectors")

NS = 1_000_000_000
QUEUE_SIZE = 10_000
"""Inputs waiting for the feed; a full queue stops reading the socket (backpressure)."""
BATCH = 256
"""Inputs already queued that are handled before one sink call publishes their events."""
MAX_PAGES = 100
"""A paged instrument list longer than this is refused (a venue looping on its cursor)."""
Sleep = Callable[[float], Awaitable[None]]


class _Reconnect(Exception):
    pass


class ConnectorSource:
    """A live venue as a ``Source`` (one per ``--source`` spec)."""

    def __init__(
        self,
        spec: ConnectorSpec,
        venue: VenueDef,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = venue.name
        self.spec = spec
        self.venue = venue
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.ws_url = spec.ws or venue.ws_url
        self.rest_url = (spec.rest or venue.rest_url).rstrip("/")
        self.health = ConnectorHealth(f"{venue.name}:{','.join(spec.symbols)}")
        self.limiter = RateLimiter(venue.weight_per_minute)
        self.options = FeedOptions(stale_ns=int((spec.stale_s or venue.stale_s) * NS))
        self.instruments: list[Instrument] = []
        self.by_id: dict[str, Market] = {}
        self._http: httpx.AsyncClient | None = None

    async def prepare(self) -> None:
        """Read the instrument list: markets are known from here on."""
        listed: list[Instrument] = []
        async with httpx.AsyncClient(timeout=10) as http:
            for path in (self.venue.info_path, *self.venue.more_info_paths):
                listed.extend(await self._instrument_pages(http, path))
        self.instruments = self.venue.select(listed, self.spec.symbols)
        self.by_id = {item.market.id: item.market for item in self.instruments}

    async def _instrument_pages(self, http: httpx.AsyncClient, path: str) -> list[Instrument]:
        """One instrument list, following its pages where the venue pages it."""
        listed: list[Instrument] = []
        next_path: str | None = path
        for _ in range(MAX_PAGES):
            if next_path is None:
                return listed
            url = f"{self.rest_url}{next_path}"
            try:
                response = await http.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise ConfigError(
                    f"{self.name}: cannot read the instrument list {url}: {exc}"
                ) from None
            listed.extend(self.venue.parse_instruments(response.content))
            paging = self.venue.next_info_path
            next_path = paging(response.content) if paging is not None else None
        raise ConfigError(f"{self.name}: the instrument list has more than {MAX_PAGES} pages")

    def markets(self) -> list[Market]:
        return [item.market for item in self.instruments]

    def shards(self) -> list[list[Instrument]]:
        size = self.venue.instruments_per_connection
        if self.spec.per_connection is not None:
            size = min(size, self.spec.per_connection)
        items = self.instruments
        return [items[start : start + size] for start in range(0, len(items), size)]

    async def run(self, sink: EventSink) -> None:
        if not self.instruments:
            await self.prepare()
        shards = self.shards()
        self.health.connections = len(shards)
        async with httpx.AsyncClient(base_url=self.rest_url, timeout=10) as http:
            self._http = http
            connections = [_Connection(self, shard, sink) for shard in shards]
            await asyncio.gather(*(connection.run() for connection in connections))

    async def get(self, path: str, weight: int) -> bytes:
        """A rate-limited REST GET; the body of a 200 answer."""
        wait = self.limiter.reserve(weight, self.clock.monotonic_ns())
        if wait > 0:
            await self.sleep(wait)
        assert self._http is not None
        response = await self._http.get(path)
        response.raise_for_status()
        return response.content

    def trades_gap(self, lost: TradesLost, why: str) -> None:
        self.health.trade_gaps += 1
        logger.warning("%s: trades lost on %s (%s); %s", self.name, lost.market, lost.reason, why)


class _Connection:
    """One WebSocket connection of a connector, reconnected until cancelled."""

    def __init__(self, source: ConnectorSource, shard: list[Instrument], sink: EventSink) -> None:
        self.source = source
        self.sink = sink
        self.feed: VenueFeed = source.venue.feed(shard, source.options)
        self.url = source.ws_url
        if source.venue.ws_url_for is not None:
            self.url = source.venue.ws_url_for(self.url, shard)
        self.backoff = Backoff(source.rng)
        self.held: dict[str, list[Event]] = {}
        """Trades (and gaps) of markets being backfilled, published after the backfill."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.live = False
        self.last_send_ns: int | None = None
        self.pending: list[Event] = []
        """Events of the current batch, published by ``_flush``."""

    async def run(self) -> None:
        try:
            await self._reconnecting()
        finally:
            self._end_session()

    async def _reconnecting(self) -> None:
        health = self.source.health
        while True:
            try:
                await self._session()
                reason = "closed by the venue"
            except _Reconnect as exc:
                reason = str(exc)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a feed bug or a message it could not read: start over
                logger.exception("%s: connection failed", self.source.name)
                reason = f"{type(exc).__name__}: {exc}"
            self._end_session()
            health.last_error = reason
            health.reconnects += 1
            logger.warning("%s: reconnecting (%s)", self.source.name, reason)
            await self._execute(self.feed.disconnected(self.source.clock.time_ns()), None)
            await self._flush()
            await self.source.sleep(self.backoff.next_delay())

    def _end_session(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        for market, trades in self.held.items():  # the backfill will not come: publish the rest
            self.pending.append(self._gap(TradesLost(market, "reconnected during a backfill")))
            self.pending.extend(trades)
        self.held.clear()
        if self.live:
            self.live = False
            self.source.health.live -= 1

    async def _session(self) -> None:
        queue: asyncio.Queue[Input] = asyncio.Queue(QUEUE_SIZE)
        async with websockets.connect(
            self.url, open_timeout=10, close_timeout=2, max_size=2**24, compression=None
        ) as ws:
            self._spawn(self._read(ws, queue))
            self._spawn(self._tick(queue))
            opened_ns = self.source.clock.monotonic_ns()
            await self._execute(self.feed.connected(), ws)
            while True:
                item = await queue.get()
                await self._execute(self._input(item, opened_ns), ws, queue)
                for _ in range(BATCH - 1):  # what is already queued joins the same batch
                    if queue.empty():
                        break
                    await self._execute(self._input(queue.get_nowait(), opened_ns), ws, queue)
                await self._flush()

    def _input(self, item: Input, opened_ns: int) -> Sequence[Command]:
        source = self.source
        match item:
            case Message(data=data, recv_ns=recv_ns):
                source.health.messages += 1
                source.health.last_message_ns = recv_ns
                if not self.live:
                    self.live = True
                    source.health.live += 1
                    self.backoff.reset()
                return self.feed.receive(data, recv_ns)
            case Rest(request_id=request_id, body=body, recv_ns=recv_ns):
                source.health.snapshots += 1
                return self.feed.rest_snapshot(request_id, body, recv_ns)
            case Backfill():
                return self._backfilled(item)
            case Tick():
                limit = source.venue.max_connection_s
                age_s = (source.clock.monotonic_ns() - opened_ns) / NS
                if limit is not None and age_s > limit:
                    raise _Reconnect(f"scheduled reconnect after {age_s:.0f} s")
                return self.feed.heartbeat(source.clock.time_ns())
            case Closed(reason=reason):
                raise _Reconnect(reason)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _read(self, ws: ClientConnection, queue: asyncio.Queue[Input]) -> None:
        clock = self.source.clock
        try:
            async for data in ws:
                await queue.put(Message(data, clock.time_ns()))
            reason = f"closed by the venue ({ws.close_code})"
        except websockets.exceptions.WebSocketException as exc:
            reason = f"{type(exc).__name__}: {exc}"
        await queue.put(Closed(reason))

    async def _tick(self, queue: asyncio.Queue[Input]) -> None:
        while True:
            await self.source.sleep(1.0)
            await queue.put(Tick())

    async def _execute(
        self,
        commands: Sequence[Command],
        ws: ClientConnection | None,
        queue: asyncio.Queue[Input] | None = None,
    ) -> None:
        for command in commands:
            match command:
                case Publish(events=events):
                    self._publish(events)
                case Send(text=text) if ws is not None:
                    await self._pace()
                    await ws.send(text)
                case FetchSnapshot() if queue is not None:
                    self._spawn(self._fetch(command, queue))
                case TradesLost():
                    self._lost(command, queue)
                case Resynced(market=market, reason=reason):
                    self.source.health.resyncs += 1
                    logger.warning("%s: %s resynchronised (%s)", self.source.name, market, reason)
                case Reconnect(reason=reason):
                    raise _Reconnect(reason)

    async def _pace(self) -> None:
        """Space Sends by the venue's limit on incoming messages per connection."""
        rate = self.source.venue.sends_per_second
        if rate is None:
            return
        now = self.source.clock.monotonic_ns()
        due = None if self.last_send_ns is None else self.last_send_ns + int(NS / rate)
        if due is not None and now < due:
            await self.source.sleep((due - now) / NS)
            now = due
        self.last_send_ns = now

    def _publish(self, events: Sequence[Event]) -> None:
        """Queue events for the next ``_flush`` (trades of markets being backfilled are held)."""
        if self.held:
            kept: list[Event] = []
            for event in events:
                held = self.held.get(event.market) if isinstance(event, Trade) else None
                if held is not None and isinstance(event, Trade):
                    held.append(event)
                else:
                    kept.append(event)
            events = kept
        self.pending.extend(events)

    async def _flush(self) -> None:
        """Publish the batch: one sink call for everything the last messages produced."""
        if not self.pending:
            return
        events, self.pending = self.pending, []
        last = events[-1]
        if last.time_ns:
            self.source.health.lag(self.source.clock.time_ns(), last.time_ns)
        await self.sink(events)

    async def _fetch(self, command: FetchSnapshot, queue: asyncio.Queue[Input]) -> None:
        """GET a snapshot, retrying with backoff until it succeeds (or the session ends)."""
        retry = Backoff(self.source.rng)
        while True:
            try:
                body = await self.source.get(command.path, command.weight)
            except httpx.HTTPError as exc:
                logger.warning("%s: GET %s failed: %s", self.source.name, command.path, exc)
                await self.source.sleep(retry.next_delay())
                continue
            await queue.put(Rest(command.request_id, body, self.source.clock.time_ns()))
            return

    def _lost(self, lost: TradesLost, queue: asyncio.Queue[Input] | None) -> None:
        venue = self.source.venue
        market = self.source.by_id.get(lost.market)
        if (
            venue.trades_path is None
            or venue.parse_trades is None
            or market is None
            or lost.after_trade_id is None
            or queue is None
        ):
            self.pending.append(self._gap(lost, "the venue has no REST backfill"))
            return
        if lost.market in self.held:
            self.held[lost.market].append(self._gap(lost, "a second loss during a backfill"))
            return
        self.held[lost.market] = []
        self._spawn(self._backfill(lost, market, queue))

    async def _backfill(
        self, lost: TradesLost, market: Market, queue: asyncio.Queue[Input]
    ) -> None:
        venue = self.source.venue
        assert venue.trades_path is not None and venue.parse_trades is not None
        trades: tuple[Trade, ...] | None
        try:
            body = await self.source.get(venue.trades_path(market.symbol), venue.trades_weight)
            trades = tuple(venue.parse_trades(market, body))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: trades backfill failed: %s", self.source.name, exc)
            trades = None
        await queue.put(Backfill(lost, trades))

    def _backfilled(self, item: Backfill) -> Sequence[Command]:
        """Publish the backfilled trades in (after, before), then the held ones."""
        held = self.held.pop(item.lost.market, [])
        found, missing = recovered(item.lost, item.trades, dense=self.source.venue.trades_dense)
        self.source.health.trades_backfilled += len(found)
        ids = {trade.id for trade in found}  # a live trade the answer also held comes once
        events: list[Event] = [*found, *(e for e in held if getattr(e, "id", None) not in ids)]
        if missing is not None:  # where the hole is: before the recovered trades, or after them
            at = len(found) if missing == ENDS_EARLY else 0
            events.insert(at, self._gap(item.lost, missing))
        return [Publish(tuple(events))] if events else []

    def _gap(self, lost: TradesLost, why: str = "lost") -> TradesGap:
        """A loss no backfill covers: counted, logged, and a ``TradesGap`` event on the trades
        stream (native clients get a ``Gap`` of its seq, reason ``venue``)."""
        self.source.trades_gap(lost, why)
        return TradesGap(
            lost.market,
            self.source.clock.time_ns(),
            lost.reason,
            lost.after_trade_id,
            lost.before_trade_id,
        )
