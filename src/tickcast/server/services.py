"""Typed access to the app's node and dialects: one ``Services`` object on the app, read through
:func:`services_of` (or :func:`node_of`), instead of untyped ``app.state`` names.

``build_app`` creates it from the registry (``tickcast.app.registry``); the app's lifespan
starts the node, then every dialect in registry order, and stops the node (it closes every
connection), then every dialect, each one even if an earlier one failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tickcast.server.dialect import Dialect

if TYPE_CHECKING:
    from tickcast.server.node import Node

T = TypeVar("T")


@dataclass(eq=False)
class Services:
    node: Node
    dialects: list[Dialect] = field(default_factory=list)

    def service(self, kind: type[T]) -> T:
        """The service of type ``kind`` of a mounted dialect (``LookupError`` if none)."""
        for dialect in self.dialects:
            if isinstance(dialect.service, kind):
                return dialect.service
        raise LookupError(f"no mounted dialect has a {kind.__name__}")

    def find(self, kind: type[T]) -> T | None:
        """:meth:`service`, or ``None`` when that dialect is not mounted."""
        try:
            return self.service(kind)
        except LookupError:
            return None

    async def start(self) -> None:
        await self.node.start()
        for dialect in self.dialects:
            if dialect.start is not None:
                await dialect.start()

    async def stop(self) -> None:
        await _stop_all([self.node.stop, *(d.stop for d in self.dialects if d.stop)])


async def _stop_all(stops: list[Any]) -> None:
    """Await every ``stop`` in order, each one even if an earlier one raised; re-raise the
    first failure at the end."""
    first: BaseException | None = None
    for stop in stops:
        try:
            await stop()
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first


def services_of(app: Any) -> Services:
    """The app's services (``app``: the FastAPI/Starlette app, e.g. ``request.app``)."""
    services: Services = app.state.services
    return services


def node_of(app: Any) -> Node:
    return services_of(app).node
