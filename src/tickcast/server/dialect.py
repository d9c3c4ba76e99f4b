"""What one dialect gives the app: its routes, its service and its lifespan.

Every dialect is one package, ``tickcast.dialects.<name>``, with its sans-I/O wire code in
``wire/`` and its I/O (endpoints, connections, REST handlers, services) in ``endpoint/``. The
``endpoint`` package exposes ``dialect(node) -> Dialect | None`` (``None``: turned off by the
configuration); ``tickcast.app.registry`` lists those factories, and ``build_app`` mounts each
dialect's routes and middleware and runs its lifespan with the node's. How to add one:
docs/dialects/adding-a-dialect.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from tickcast.server.node import Node


@dataclass(eq=False)
class Dialect:
    """One mounted dialect (built by its ``endpoint.dialect(node)``)."""

    name: str
    routes: Sequence[BaseRoute] = ()
    """Added to the app's routes in registry order."""
    service: object | None = None
    """The dialect's state, if any, found by type with ``services_of(app).service(Type)``."""
    start: Callable[[], Awaitable[None]] | None = None
    """Called once the node has started (before the app takes requests)."""
    stop: Callable[[], Awaitable[None]] | None = None
    """Called once the node has stopped (after every connection was told to go)."""
    middleware: Sequence[Middleware] = field(default_factory=list)
    """ASGI middleware around the whole app (the Socket.IO feed takes ``/socket.io/``)."""

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """``start`` … ``stop``, for a dialect used on its own (tests, tools)."""
        if self.start is not None:
            await self.start()
        try:
            yield
        finally:
            if self.stop is not None:
                await self.stop()


DialectFactory = Callable[["Node"], "Dialect | None"]
"""``endpoint.dialect``: the dialect for this node, or ``None`` when it is turned off."""
