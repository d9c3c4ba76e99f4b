"""Joining a Coin Metrics connection's streams: the request's, then those of markets listed later
that its patterns match. Each stream is attached to the hub (resuming ``replay`` events back for
a backfill), its backfill completed from the history store (``backfill``), then it goes live; a
request with ``start_time`` replays each stream from the store first (``travel``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, cast

from tickcast.dialects.coinmetrics.endpoint import travel
from tickcast.dialects.coinmetrics.endpoint.backfill import store_backfill
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.wire import query
from tickcast.dialects.coinmetrics.wire.errors import CmError
from tickcast.dialects.coinmetrics.wire.streams import (
    StreamRequest,
    Subscription,
    parse_stream_request,
)
from tickcast.hub import Joined, Subscriber
from tickcast.model import StreamClass, StreamKind, StreamPosition
from tickcast.server.node import Node
from tickcast.storage.base import Principal

if TYPE_CHECKING:
    from tickcast.dialects.coinmetrics.endpoint.ws import CmConnection


class Joining(Subscriber, Protocol):
    """What the joins need of their connection."""

    node: Node
    service: CoinMetricsService
    request: StreamRequest
    params: dict[str, str]
    principal: Principal

    @property
    def closing(self) -> bool: ...

    @property
    def ended(self) -> bool: ...


class Joins:
    """The streams one connection joined, and the tasks joining them."""

    __slots__ = ("_connection", "_expand", "_joined", "joining", "streams", "task")

    def __init__(self, connection: Joining) -> None:
        self._connection = connection
        self.streams: list[str] = []
        """Streams joined so far."""
        self.joining = True
        """The request's streams are being joined (their backfill may exceed the warning
        level: the writer drains it right away)."""
        self.task: asyncio.Task[None] | None = None
        """Detached connections join in a task of their own."""
        self._expand: asyncio.Task[None] | None = None
        self._joined: asyncio.Event | None = None
        """Set when the request's streams are joined (made only if someone waits for it)."""

    def cancel(self) -> None:
        for task in (self.task, self._expand):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    def detach_all(self) -> None:
        connection = self._connection
        for stream in self.streams:
            connection.node.hub.detach(connection, stream)

    async def join_request(self) -> None:
        try:
            await self.join(self._connection.request.subscriptions)
        finally:
            self.joining = False
            self.task = None  # done: an idle connection keeps no finished task
            if self._joined is not None:
                self._joined.set()

    async def join(self, subscriptions: Sequence[Subscription]) -> None:
        connection = self._connection
        hub, bus, request = connection.node.hub, connection.node.bus, connection.request
        encoder = connection.service.encoders.get(request.encoder)
        for sub in subscriptions:
            if connection.closing:
                return
            stream = str(sub.key)
            resume: StreamPosition | None = None
            event_stream = sub.key.stream_class is StreamClass.EVENT
            if event_stream and request.backfill and sub.backfill and request.replay:
                position = await bus.position(stream)
                if position.seq > 0:
                    resume = StreamPosition(max(0, position.seq - request.replay), position.epoch)
            self.streams.append(stream)
            if request.start_ns is not None:  # history hook (issue 17): start_time
                traveller = cast("CmConnection", connection)
                if not await travel.join_from(traveller, encoder, sub, request.start_ns):
                    return
                continue
            joined = await hub.attach(connection, encoder, sub.key, sub.view, resume)
            if connection.ended:  # the client left while the bus or store was answering
                hub.detach(connection, stream)
                return
            if request.backfill and sub.backfill:  # history hook (issue 17): store backfill
                node, look_back = connection.node, request.replay
                joined = await store_backfill(
                    node.history, node.keeper, encoder, sub, joined, look_back
                )
            hub.go_live(connection, kept_backfill(request, joined, sub), encoder)
            await asyncio.sleep(0)  # let the writer drain the backfill between streams

    def catalog_grew(self) -> None:
        connection = self._connection
        if connection.closing or not any(query.is_pattern(v) for v in connection.params.values()):
            return
        if self._expand is None or self._expand.done():
            self._expand = asyncio.get_running_loop().create_task(self._expand_patterns())

    async def _expand_patterns(self) -> None:
        """Join the streams of newly listed markets that the request's patterns match."""
        if self.joining:
            if self._joined is None:
                self._joined = asyncio.Event()
            await self._joined.wait()
        connection = self._connection
        try:
            request = parse_stream_request(
                connection.request.endpoint,
                connection.params,
                catalog=connection.node.catalog,
                plan=connection.principal.plan,
                visible=connection.service.visible_to(connection.principal),
            )
        except CmError:
            return
        joined = set(self.streams)
        room = connection.principal.plan.max_subscriptions - len(joined)
        new = [sub for sub in request.subscriptions if str(sub.key) not in joined][: max(room, 0)]
        await self.join(new)


def kept_backfill(request: StreamRequest, joined: Joined, sub: Subscription) -> Joined:
    """Keep the frames ``backfill`` asks for (books always start with their snapshot)."""
    if sub.key.kind is not StreamKind.BOOK and not (request.backfill and sub.backfill):
        frames: tuple[bytes, ...] = ()
    else:
        kept = [frame for frame in joined.frames if frame]
        frames = tuple(kept[-request.keep :])
    return dataclasses.replace(joined, frames=frames)
