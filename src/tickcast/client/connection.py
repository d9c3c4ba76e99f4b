"""``Client``: the asyncio SDK of the native protocol (``GET /api/v1/ws``).

One WebSocket per client. A single reader task parses frames, runs them through the sans-I/O
``StreamTracker`` (positions, duplicate drop, hole detection, local books) and routes what the
user sees to the ``Subscription`` owning each stream. When the connection drops it reconnects with
exponential backoff and jitter, tells every subscription ``Reconnected`` and re-subscribes every
stream from its last position (or afresh for a state stream that needs a new snapshot).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tickcast.client.books import LocalBook
from tickcast.client.errors import Disconnected, refusal_error, rejection_error
from tickcast.client.messages import (
    Closing,
    Gap,
    Message,
    Pong,
    Reconnected,
    ServerError,
    Snapshot,
    Subscribed,
    Unsubscribed,
    Update,
    parse_message,
)
from tickcast.client.subscription import Subscription
from tickcast.client.tracker import ClientStats, StreamTracker
from tickcast.errors import TickcastError
from tickcast.model import StreamPosition

__all__ = ["Client", "ws_url"]

logger = logging.getLogger("tickcast.client")

WS_PATH = "/api/v1/ws"
MAX_FRAME = 16 * 2**20


def ws_url(url: str) -> str:
    """``url`` with a ws/wss scheme and ``/api/v1/ws`` appended when it has no path."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


@dataclass
class _Request:
    kind: str
    subscription: Subscription | None = None
    streams: tuple[str, ...] = ()
    pong: asyncio.Future[float] | None = None
    sent: float = 0.0


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
        self.url = ws_url(url)
        self._key = key
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.min_backoff = min_backoff
        self.max_attempts = max_attempts
        self.ping_interval = ping_interval
        self.open_timeout = open_timeout
        self._tracker = StreamTracker()
        self._owners: dict[str, Subscription] = {}
        self._subscriptions: set[Subscription] = set()
        self._requests: dict[int | str, _Request] = {}
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: Closing | None = None
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
        self._ws = await self._open()
        self._runner = asyncio.create_task(self._run(), name="tickcast-client")

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
        if self._ws is not None:
            await self._ws.close()
        self._end_all(None)

    # -- public API --------------------------------------------------------------------------

    def subscribe(
        self, streams: Iterable[str], *, depth: int | None = None, party: str | None = None
    ) -> Subscription:
        """Subscribe to ``streams`` on this connection and return their message iterator.

        A stream already subscribed through another call moves to this subscription (resuming
        from its position). A refused Subscribe raises from the iterator (``UnknownStream``...).
        """
        self._check_usable()
        if isinstance(streams, str):
            raise TypeError("streams must be a list of stream keys, not a string")
        keys = tuple(dict.fromkeys(streams))
        if not keys:
            raise ValueError("subscribe needs at least one stream")
        subscription = Subscription(keys, depth=depth, party=party, release=self._release)
        for stream in keys:
            previous = self._owners.get(stream)
            if previous is not None:
                same_view = (previous.depth, previous.party) == (depth, party)
                self._disown(previous, stream, forget=not same_view)
            self._owners[stream] = subscription
            self._tracker.add(stream, filtered=subscription.filtered)
        self._subscriptions.add(subscription)
        self._spawn(self._send_subscribe(self._ws, subscription, keys))
        return subscription

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        """Stop ``streams``; no message of them is yielded after this returns."""
        removed = [stream for stream in dict.fromkeys(streams) if stream in self._owners]
        for stream in removed:
            self._disown(self._owners[stream], stream)
        if removed:
            id = self._request("unsubscribe", removed)
            await self._send({"type": "Unsubscribe", "id": id, "streams": removed})

    async def ping(self) -> float:
        """Send a Ping and return the round trip to its Pong, in seconds.

        Raises ``ConnectionError`` if the connection drops first; bound it with
        ``asyncio.timeout`` if needed.
        """
        self._check_usable()
        if self._ws is None:
            raise ConnectionError("not connected (reconnecting)")
        pong: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        id = next(self._ids)
        self._requests[id] = _Request("ping", pong=pong, sent=time.monotonic())
        try:
            await self._send({"type": "Ping", "id": id})
            return await pong
        finally:
            self._requests.pop(id, None)

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
        return self._ws is not None and not self._closed

    # -- connection --------------------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self.url,
                additional_headers={"X-API-Key": self._key},
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                max_size=MAX_FRAME,
            )
        except InvalidStatus as error:
            fatal = rejection_error(error.response.status_code, error.response.body)
            if fatal is not None:
                raise fatal from None
            raise

    async def _run(self) -> None:
        try:
            while True:
                assert self._ws is not None
                await self._read(self._ws)
                self._check_retry(self._ws)
                self._ws = None
                self._tracker.disconnected()
                self._drop_requests()
                ws, attempt = await self._reconnect()
                self._ws = ws
                self._tracker.stats.reconnects += 1
                for subscription in list(self._subscriptions):
                    subscription.push(Reconnected(attempt))
                for subscription in list(self._subscriptions):
                    await self._send_subscribe(ws, subscription, tuple(subscription.streams))
        except TickcastError as error:
            logger.warning("tickcast client stopped: %s", error)
            self._error = error
            self._end_all(error)
        except Exception as error:
            logger.exception("tickcast client failed")
            self._error = error
            self._end_all(error)

    async def _read(self, ws: ClientConnection) -> None:
        self._closing = None
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

    async def _reconnect(self) -> tuple[ClientConnection, int]:
        for attempt in itertools.count(1):
            if self.max_attempts is not None and attempt > self.max_attempts:
                break
            await asyncio.sleep(self._backoff(attempt))
            try:
                return await self._open(), attempt
            except (OSError, TimeoutError, WebSocketException) as error:
                logger.info("reconnect attempt %d to %s failed: %r", attempt, self.url, error)
        raise Disconnected(f"gave up reconnecting after {self.max_attempts} attempts")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.max_backoff, self.min_backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # -- frames ------------------------------------------------------------------------------

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = parse_message(frame)
        except TickcastError as error:
            logger.warning("ignoring server frame: %s", error)
            return
        match message:
            case Subscribed() | Snapshot() | Update() | Gap():
                if isinstance(message, Subscribed):
                    self._requests.pop(message.id, None)
                outcome = self._tracker.handle(message)
                for item in outcome.messages:
                    self._route(item)
                self._resubscribe(outcome.resubscribe)
            case ServerError():
                self._on_error(message)
            case Pong():
                request = self._requests.pop(message.id, None)
                if request is not None and request.pong is not None and not request.pong.done():
                    request.pong.set_result(time.monotonic() - request.sent)
            case Unsubscribed():
                self._requests.pop(message.id, None)
            case Closing():
                self._closing = message

    def _route(self, message: Message) -> None:
        stream: str | None = getattr(message, "stream", None)
        owner = self._owners.get(stream) if stream is not None else None
        if owner is not None:
            owner.push(message)

    def _on_error(self, error: ServerError) -> None:
        request = self._requests.pop(error.id, None) if error.id is not None else None
        if request is not None and request.pong is not None:
            if not request.pong.done():
                request.pong.set_exception(refusal_error(error.code, error.message))
        elif request is not None and request.kind == "subscribe" and request.subscription:
            subscription = request.subscription
            subscription.finish(refusal_error(error.code, error.message))
            for stream in request.streams:
                refused = not self._tracker.is_confirmed(stream)
                if refused and self._owners.get(stream) is subscription:
                    self._disown(subscription, stream)
            self._spawn(self._release(subscription))
        else:
            for subscription in list(self._subscriptions):
                subscription.push(error)

    # -- sending -----------------------------------------------------------------------------

    def _resubscribe(self, streams: list[str]) -> None:
        by_owner: dict[Subscription, list[str]] = {}
        for stream in streams:
            owner = self._owners.get(stream)
            if owner is not None:
                by_owner.setdefault(owner, []).append(stream)
        for owner, owned in by_owner.items():
            self._spawn(self._send_subscribe(self._ws, owner, tuple(owned)))

    async def _send_subscribe(
        self, ws: ClientConnection | None, subscription: Subscription, streams: tuple[str, ...]
    ) -> None:
        """Subscribe on ``ws`` if it is still the live connection (reconnects resend anyway)."""
        streams = tuple(s for s in streams if self._owners.get(s) is subscription)
        if ws is None or ws is not self._ws or not streams:
            return
        resume = {
            stream: {"epoch": position.epoch, "seq": position.seq}
            for stream in streams
            if (position := self._tracker.resume_from(stream)) is not None
        }
        message: dict[str, Any] = {"type": "Subscribe", "streams": list(streams)}
        message["id"] = self._request("subscribe", streams, subscription)
        if resume:
            message["from"] = resume
        if subscription.depth is not None:
            message["depth"] = subscription.depth
        if subscription.party is not None:
            message["party"] = subscription.party
        await self._send(message, ws)

    def _request(
        self, kind: str, streams: Iterable[str], subscription: Subscription | None = None
    ) -> int:
        id = next(self._ids)
        self._requests[id] = _Request(kind, subscription, tuple(streams))
        return id

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

    def _disown(self, subscription: Subscription, stream: str, *, forget: bool = True) -> None:
        subscription.streams.discard(stream)
        if self._owners.get(stream) is subscription:
            del self._owners[stream]
            if forget:
                self._tracker.remove(stream)
        if not subscription.streams:
            self._subscriptions.discard(subscription)
            subscription.finish(None)

    async def _release(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        await self.unsubscribe(
            [s for s in subscription.streams if self._owners.get(s) is subscription]
        )

    def _drop_requests(self) -> None:
        for request in self._requests.values():
            if request.pong is not None and not request.pong.done():
                request.pong.set_exception(ConnectionError("connection lost before the Pong"))
        self._requests.clear()

    def _end_all(self, error: BaseException | None) -> None:
        for subscription in list(self._subscriptions):
            subscription.finish(error)
        self._subscriptions.clear()
        self._drop_requests()

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("client is closed")
