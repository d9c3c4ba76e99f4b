"""``Subscription``: the async iterator ``Client.subscribe`` returns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from tickcast.client.messages import Message

__all__ = ["Subscription"]


class _End:
    """Queued after the last message of a subscription."""


_END: Final = _End()


class Subscription:
    """Messages of ``streams`` (plus ``Reconnected`` and unaddressed ``ServerError``s).

    Iteration ends (``StopAsyncIteration``) when all its streams were unsubscribed or the client
    closed; it raises the error that ended it otherwise (a refused Subscribe, ``InvalidApiKey`` on
    reconnect, ``Disconnected``). The queue is unbounded: iterate promptly or ``aclose()`` it.
    """

    def __init__(
        self,
        streams: tuple[str, ...],
        *,
        depth: int | None,
        party: str | None,
        release: Callable[[Subscription], Awaitable[None]],
    ) -> None:
        self.streams: set[str] = set(streams)
        self.depth = depth
        self.party = party
        self._release = release
        self._queue: asyncio.Queue[Message | BaseException | _End] = asyncio.Queue()
        self._finished = False
        self._done = False

    @property
    def filtered(self) -> bool:
        """True for depth-limited or party-filtered views, whose seqs may legitimately skip."""
        return self.depth is not None or self.party is not None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _End):
            self._done = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    async def aclose(self) -> None:
        """Unsubscribe every stream of this subscription and end its iteration."""
        await self._release(self)
        self.finish(None)

    def pending(self) -> int:
        """Messages queued and not yet consumed."""
        return self._queue.qsize()

    # -- called by the client ----------------------------------------------------------

    def push(self, message: Message) -> None:
        if not self._finished:
            self._queue.put_nowait(message)

    def finish(self, error: BaseException | None) -> None:
        """End iteration after the queued messages, raising ``error`` if given."""
        if not self._finished:
            self._finished = True
            self._queue.put_nowait(_END if error is None else error)

    @property
    def finished(self) -> bool:
        return self._finished

    def __repr__(self) -> str:
        return f"Subscription({sorted(self.streams)}, depth={self.depth}, party={self.party!r})"
