"""``SyncClient``: a blocking facade running ``Client`` on its own event loop in a thread.

with SyncClient("ws://127.0.0.1:8080", key) as client:
    for message in client.subscribe(["trades:binance-btc-usdt-spot"], timeout=30):
        print(message)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from tickcast.client.books import LocalBook
from tickcast.client.connection import Client
from tickcast.client.messages import Message
from tickcast.client.subscription import Subscription
from tickcast.client.tracker import ClientStats
from tickcast.model import StreamPosition

__all__ = ["SyncClient"]

T = TypeVar("T")


class SyncClient:
    """The blocking counterpart of ``Client``; takes the same arguments.

    Every method may be called from any thread; the client itself lives on a private loop.
    """

    def __init__(self, url: str, key: str, **options: Any) -> None:
        self._client = Client(url, key, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SyncClient:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Start the loop thread and connect; raises what ``Client.connect`` raises."""
        if self._loop is not None:
            raise RuntimeError("already connected")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tickcast-sync-client", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._client.connect())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Close the client and stop the loop thread (idempotent)."""
        if self._loop is None:
            return
        try:
            self._call(self._client.close())
        finally:
            self._stop_loop()

    def subscribe(
        self,
        streams: Iterable[str],
        *,
        depth: int | None = None,
        party: str | None = None,
        resume: Mapping[str, StreamPosition] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Message]:
        """Subscribe and iterate the messages, blocking.

        ``timeout``: the longest wait for each message; ``TimeoutError`` when it expires.
        Leaving the loop (break, exception, timeout) unsubscribes the streams.
        """
        streams = list(streams)

        async def start() -> Subscription:
            return self._client.subscribe(streams, depth=depth, party=party, resume=resume)

        return self._iterate(self._call(start()), timeout)

    def unsubscribe(self, streams: Iterable[str]) -> None:
        self._call(self._client.unsubscribe(list(streams)))

    def ping(self, timeout: float = 10.0) -> float:
        """Round trip of a Ping, in seconds."""

        async def ping() -> float:
            async with asyncio.timeout(timeout):
                return await self._client.ping()

        return self._call(ping())

    def book(self, stream: str) -> LocalBook:
        """A copy of the local book of ``stream``, taken on the client's loop."""
        return self._read(lambda: self._client.book(stream).copy())

    @property
    def positions(self) -> dict[str, StreamPosition]:
        return self._read(lambda: self._client.positions)

    @property
    def stats(self) -> ClientStats:
        return self._read(lambda: self._client.stats)

    # -- internals ---------------------------------------------------------------------

    def _iterate(self, subscription: Subscription, timeout: float | None) -> Iterator[Message]:
        async def next_message() -> Message | None:
            try:
                async with asyncio.timeout(timeout):
                    return await anext(subscription)
            except StopAsyncIteration:
                return None

        try:
            while (message := self._call(next_message())) is not None:
                yield message
        finally:
            if self._loop is not None and not self._loop.is_closed():
                self._call(subscription.aclose())

    def _read(self, read: Callable[[], T]) -> T:
        async def run() -> T:
            return read()

        return self._call(run())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or not self._loop.is_running():
            coroutine.close()
            raise RuntimeError("SyncClient is not connected")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        loop.close()
