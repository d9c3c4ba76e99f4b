"""``Client``: the asyncio SDK of the native protocol (``GET /api/v1/ws``).

One WebSocket per client. A single reader task parses frames, runs them through the sans-I/O
``StreamTracker`` (positions, duplicate drop, hole detection, local books) and routes what the
user sees to the ``Subscription`` owning each stream. When the connection drops it reconnects with
exponential backoff and jitter, tells every subscription ``Reconnected`` and re-subscribes every
stream from its last position (or afresh for a state stream that needs a new snapshot).
"""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tickcast.client.books import LocalBook
from tickcast.client.dialer import Dialer
from tickcast.client.errors import Disconnected, refusal_error
from tickcast.client.messages import (
    Closing,
    Gap,
    Pong,
    Reconnected,
    ServerError,
    Snapshot,
    Subscribed,
    Unsubscribed,
    Update,
    parse_message,
)
from tickcast.client.pending import PendingRequests
from tickcast.client.subscription import Registry, Subscription
from tickcast.client.tracker import ClientStats, StreamTracker
from tickcast.errors import TickcastError
from tickcast.model import StreamPosition
from tickcast.model.timefmt import rfc3339_ns

__all__ = ["Client"]

logger = logging.getLogger("tickcast.client")


class Client:
    """``async with Client(url, key) as c: async for msg in c.subscribe([...]): ...``"""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        ping_interval: float | None = 10,
        min_backoff: float = 0.1,
        max_attempts: int | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self._dialer = Dialer(
            url,
            key,
            ping_interval=ping_interval,
            open_timeout=open_timeout,
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            max_attempts=max_attempts,
        )
        self.url = self._dialer.url
        self.reconnect = reconnect
        self._tracker = StreamTracker()
        self._registry = Registry(self._tracker)
        self._since: dict[str, int] = {}
        """Streams to start at a past time (``subscribe(since=...)``), until first sent."""
        self._requests = PendingRequests()
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: Closing | None = None
        self._frames = 0
        self._closed = False
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection; raises ``InvalidApiKey``, ``LimitExceeded``, ``NotEntitled``,
        ``Rejected`` or the transport's error (``OSError``, websockets errors) without retrying."""
        if self._ws is not None or self._closed:
            raise RuntimeError("client already connected or closed")
        self._ws = await self._dialer.open()
        self._runner = asyncio.create_task(self._run(), name="tickcast-client")
        for subscription in self._registry:  # subscribed before connecting
            self._spawn(self._send_subscribe(self._ws, subscription))

    async def close(self) -> None:
        """Close the connection; every subscription's iteration ends."""
        if self._closed:
            return
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.wait([self._runner])
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._ws is not None:
            await self._ws.close()
        self._end_all(None)

    # -- public API --------------------------------------------------------------------------

    def subscribe(
        self,
        streams: Iterable[str],
        *,
        depth: int | None = None,
        party: str | None = None,
        resume: Mapping[str, StreamPosition] | None = None,
        since: datetime | None = None,
    ) -> Subscription:
        """Subscribe to ``streams`` on this connection and return their message iterator.

        ``depth`` limits ``book:`` streams to their top levels; ``party`` filters orders,
        positions and trades to one party. ``resume`` gives saved positions for event streams
        (e.g. from ``positions`` before a restart): replay or an explicit Gap follows.
        A stream already subscribed through another call moves to this subscription (resuming
        from its position). A refused Subscribe raises from the iterator (``UnknownStream``...).
        ``since`` (a timezone-aware datetime) starts the streams without a ``resume`` position
        at that past instant: the server replays its history (a book starts with the book as
        of then) and continues into live with dense seqs (docs/history.md).
        """
        self._check_usable()
        if isinstance(streams, str):
            raise TypeError("streams must be a list of stream keys, not a string")
        keys = tuple(dict.fromkeys(streams))
        if not keys:
            raise ValueError("subscribe needs at least one stream")
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be a timezone-aware datetime")
            moment = since.astimezone(UTC)
            start_ns = calendar.timegm(moment.timetuple()) * 1_000_000_000
            start_ns += moment.microsecond * 1_000
            self._since.update({key: start_ns for key in keys if key not in (resume or {})})
        subscription = Subscription(keys, depth=depth, party=party, release=self._release)
        self._registry.add(subscription, resume)
        self._spawn(self._send_subscribe(self._ws, subscription, keys))
        return subscription

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        """Stop ``streams``; no message of them is yielded after this returns."""
        removed = []
        for stream in dict.fromkeys(streams):
            owner = self._registry.owner(stream)
            if owner is not None:
                self._registry.disown(owner, stream)
                removed.append(stream)
        if removed:
            id = self._requests.new("unsubscribe", tuple(removed))
            await self._send({"type": "Unsubscribe", "id": id, "streams": removed})

    async def ping(self) -> float:
        """Send a Ping and return the round trip to its Pong, in seconds.

        Raises ``ConnectionError`` if the connection drops first; bound it with
        ``asyncio.timeout`` if needed.
        """
        self._check_usable()
        if self._ws is None:
            raise ConnectionError("not connected (reconnecting)")
        id, pong = self._requests.new_ping()
        try:
            await self._send({"type": "Ping", "id": id})
            return await pong
        finally:
            self._requests.pop(id)

    def book(self, stream: str) -> LocalBook:
        """The local book of a subscribed ``book:`` stream (``KeyError`` otherwise)."""
        return self._tracker.books[stream]

    @property
    def positions(self) -> dict[str, StreamPosition]:
        """The last (epoch, seq) seen per stream: where a resume starts from."""
        return self._tracker.positions

    @property
    def stats(self) -> ClientStats:
        return replace(self._tracker.stats)

    @property
    def connected(self) -> bool:
        """True while a connection is open and the client neither closed nor failed."""
        return self._ws is not None and not self._closed and self._error is None

    # -- connection --------------------------------------------------------------------------

    async def _run(self) -> None:
        penalty = 0
        try:
            while True:
                assert self._ws is not None
                await self._read(self._ws)
                self._check_retry(self._ws)
                self._ws = None
                self._tracker.disconnected()
                self._requests.drop_all()
                penalty = 0 if self._frames else penalty + 1
                ws, attempt = await self._dialer.reconnect(penalty=penalty)
                self._ws = ws
                self._tracker.stats.reconnects += 1
                self._registry.broadcast(Reconnected(attempt))
                for subscription in self._registry:
                    await self._send_subscribe(ws, subscription)
        except TickcastError as error:
            logger.warning("tickcast client stopped: %s", error)
            self._error = error
            self._end_all(error)
        except Exception as error:
            logger.exception("tickcast client failed")
            self._error = error
            self._end_all(error)

    async def _read(self, ws: ClientConnection) -> None:
        self._closing, self._frames = None, 0
        try:
            async for frame in ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass

    def _check_retry(self, ws: ClientConnection) -> None:
        closing, code, reason = self._closing, ws.close_code, ws.close_reason or ""
        if closing is not None and not closing.retry:
            raise Disconnected(closing.reason or reason, close_code=closing.code)
        if not self.reconnect:
            retry = closing is None or closing.retry
            message = f"connection closed ({code} {reason.strip()})"
            raise Disconnected(message, close_code=code, retry=retry)

    # -- frames ------------------------------------------------------------------------------

    def _on_frame(self, frame: str | bytes) -> None:
        self._frames += 1
        try:
            message = parse_message(frame)
        except TickcastError as error:
            logger.warning("ignoring server frame: %s", error)
            return
        match message:
            case Subscribed() | Snapshot() | Update() | Gap():
                if isinstance(message, Subscribed):
                    self._requests.pop(message.id)
                outcome = self._tracker.handle(message)
                for item in outcome.messages:
                    self._registry.route(item)
                self._resubscribe(outcome.resubscribe)
            case ServerError():
                self._on_error(message)
            case Pong():
                self._requests.pong(message.id)
            case Unsubscribed():
                self._requests.pop(message.id)
            case Closing():
                self._closing = message

    def _on_error(self, error: ServerError) -> None:
        request = self._requests.pop(error.id)
        if request is not None and request.pong is not None:
            if not request.pong.done():
                request.pong.set_exception(refusal_error(error.code, error.message))
        elif request is not None and request.kind == "subscribe" and request.subscription:
            subscription = request.subscription
            subscription.finish(refusal_error(error.code, error.message))
            for stream in request.streams:
                refused = not self._tracker.is_confirmed(stream)
                if refused and self._registry.owner(stream) is subscription:
                    self._registry.disown(subscription, stream)
            self._spawn(self._release(subscription))
        else:
            self._registry.broadcast(error)

    # -- sending -----------------------------------------------------------------------------

    def _resubscribe(self, streams: list[str]) -> None:
        by_owner: dict[Subscription, list[str]] = {}
        for stream in streams:
            owner = self._registry.owner(stream)
            if owner is not None:
                by_owner.setdefault(owner, []).append(stream)
        for owner, owned in by_owner.items():
            self._spawn(self._send_subscribe(self._ws, owner, tuple(owned)))

    async def _send_subscribe(
        self,
        ws: ClientConnection | None,
        subscription: Subscription,
        streams: Iterable[str] | None = None,
    ) -> None:
        """Subscribe on ``ws`` if it is still the live connection (reconnects resend anyway).

        ``streams`` defaults to all the streams ``subscription`` owns.
        """
        owned = self._registry.owned(subscription)
        streams = owned if streams is None else [s for s in streams if s in owned]
        if ws is None or ws is not self._ws or not streams:
            return
        resume: dict[str, dict[str, Any]] = {
            stream: {"epoch": position.epoch, "seq": position.seq}
            for stream in streams
            if (position := self._tracker.resume_from(stream)) is not None
        }
        for stream in streams:
            start_ns = self._since.pop(stream, None)
            if start_ns is not None and stream not in resume:
                resume[stream] = {"time": rfc3339_ns(start_ns)}
        message: dict[str, Any] = {"type": "Subscribe", "streams": streams}
        message["id"] = self._requests.new("subscribe", tuple(streams), subscription)
        if resume:
            message["from"] = resume
        if subscription.depth is not None:
            message["depth"] = subscription.depth
        if subscription.party is not None:
            message["party"] = subscription.party
        await self._send(message, ws)

    async def _send(self, message: dict[str, Any], ws: ClientConnection | None = None) -> None:
        ws = ws or self._ws
        if ws is None:
            return
        try:
            await ws.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed:
            pass  # the reader sees it and reconnects; the reconnect re-subscribes

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- bookkeeping -------------------------------------------------------------------------

    async def _release(self, subscription: Subscription) -> None:
        streams = self._registry.owned(subscription)
        self._registry.discard(subscription)
        await self.unsubscribe(streams)

    def _end_all(self, error: BaseException | None) -> None:
        self._registry.end_all(error)
        self._requests.drop_all()

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("client is closed")
