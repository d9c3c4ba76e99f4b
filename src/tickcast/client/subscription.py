"""``Subscription``: the async iterator ``Client.subscribe`` returns, and who owns each stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Final

from tickcast.client.messages import Message
from tickcast.client.tracker import StreamTracker
from tickcast.model import StreamPosition

__all__ = ["Registry", "Subscription"]


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


class Registry:
    """The live subscriptions of a client; each stream is owned by exactly one of them."""

    def __init__(self, tracker: StreamTracker) -> None:
        self._tracker = tracker
        self._owners: dict[str, Subscription] = {}
        self._subscriptions: set[Subscription] = set()

    def add(
        self, subscription: Subscription, resume: Mapping[str, StreamPosition] | None = None
    ) -> None:
        """Register ``subscription``, taking its streams over from earlier owners.

        A stream taken over with the same view keeps its position (and resumes); with another
        depth or party it starts afresh.
        """
        for stream in subscription.streams:
            previous = self._owners.get(stream)
            if previous is not None:
                same_view = (previous.depth, previous.party) == (
                    subscription.depth,
                    subscription.party,
                )
                self.disown(previous, stream, forget=not same_view)
            self._owners[stream] = subscription
            position = resume.get(stream) if resume else None
            self._tracker.add(stream, filtered=subscription.filtered, resume=position)
        self._subscriptions.add(subscription)

    def owner(self, stream: str) -> Subscription | None:
        return self._owners.get(stream)

    def owned(self, subscription: Subscription) -> list[str]:
        """The streams ``subscription`` still owns, sorted."""
        return sorted(s for s in subscription.streams if self._owners.get(s) is subscription)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._subscriptions))

    def route(self, message: Message) -> None:
        """Queue a stream's message on its owner (dropped if nobody owns the stream)."""
        stream: str | None = getattr(message, "stream", None)
        owner = self._owners.get(stream) if stream is not None else None
        if owner is not None:
            owner.push(message)

    def broadcast(self, message: Message) -> None:
        for subscription in list(self._subscriptions):
            subscription.push(message)

    def disown(self, subscription: Subscription, stream: str, *, forget: bool = True) -> None:
        """Take ``stream`` from ``subscription`` (ending it when it has none left)."""
        subscription.streams.discard(stream)
        if self._owners.get(stream) is subscription:
            del self._owners[stream]
            if forget:
                self._tracker.remove(stream)
        if not subscription.streams:
            self.discard(subscription)

    def discard(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.finish(None)

    def end_all(self, error: BaseException | None) -> None:
        for subscription in list(self._subscriptions):
            subscription.finish(error)
        self._subscriptions.clear()
