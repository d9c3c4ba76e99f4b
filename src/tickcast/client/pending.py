"""The client's requests awaiting a reply (Subscribed, Unsubscribed, Pong or an Error)."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from tickcast.client.subscription import Subscription

__all__ = ["PendingRequests", "Request"]


@dataclass
class Request:
    kind: str
    """``subscribe``, ``unsubscribe`` or ``ping``."""
    subscription: Subscription | None = None
    streams: tuple[str, ...] = ()
    pong: asyncio.Future[float] | None = None
    sent: float = 0.0


class PendingRequests:
    """Request ids (dense integers from 1) and what each request was."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._requests: dict[int | str, Request] = {}

    def new(
        self,
        kind: str,
        streams: tuple[str, ...] = (),
        subscription: Subscription | None = None,
    ) -> int:
        id = next(self._ids)
        self._requests[id] = Request(kind, subscription, streams)
        return id

    def new_ping(self) -> tuple[int, asyncio.Future[float]]:
        pong: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        id = next(self._ids)
        self._requests[id] = Request("ping", pong=pong, sent=time.monotonic())
        return id, pong

    def pop(self, id: int | str | None) -> Request | None:
        return None if id is None else self._requests.pop(id, None)

    def pong(self, id: int | str) -> None:
        """Resolve a ping with its round trip."""
        request = self._requests.pop(id, None)
        if request is not None and request.pong is not None and not request.pong.done():
            request.pong.set_result(time.monotonic() - request.sent)

    def drop_all(self) -> None:
        """Forget every request (the connection is gone); pending pings fail."""
        for request in self._requests.values():
            if request.pong is not None and not request.pong.done():
                request.pong.set_exception(ConnectionError("connection lost before the Pong"))
        self._requests.clear()
