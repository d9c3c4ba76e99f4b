"""What the dashboard needs of a node, as protocols (the dashboard never imports ``server``).

``tickcast.server.node.Node`` satisfies ``Backend`` structurally; the one-engine redesign only has
to keep these few attributes (or hand the dashboard an adapter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tickcast.auth.plans import Plan
from tickcast.bus.base import Bus
from tickcast.model import MarketCatalog
from tickcast.storage.base import Principal, Store


class Connection(Protocol):
    """One live client connection of any dialect."""

    @property
    def id(self) -> str: ...

    @property
    def dialect(self) -> str: ...

    @property
    def principal(self) -> Principal: ...

    def info(self) -> dict[str, object]: ...

    async def close(self, code: int, reason: str, *, retry: bool) -> None: ...


class ConnectorHealth(Protocol):
    """A live venue connector's state and counters (``sources.connectors.health``)."""

    @property
    def name(self) -> str: ...

    def report(self) -> dict[str, object]: ...


class Cluster(Protocol):
    """The node's id and its connection counters per limit pool (``server.cluster.Cluster``);
    with a Redis bus the counters know the other live nodes (``bus.leases``)."""

    @property
    def node_id(self) -> str: ...

    @property
    def counters(self) -> Mapping[Any, Any]: ...


class Backend(Protocol):
    @property
    def config(self) -> Any: ...

    @property
    def store(self) -> Store: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def catalog(self) -> MarketCatalog: ...

    @property
    def plans(self) -> Mapping[str, Plan]: ...

    @property
    def connections(self) -> Mapping[str, Connection]: ...

    @property
    def metrics(self) -> Any:
        """Has ``registry``: a prometheus_client ``CollectorRegistry``."""

    @property
    def sources(self) -> Sequence[Any]: ...

    @property
    def connectors(self) -> Sequence[ConnectorHealth]: ...

    @property
    def cluster(self) -> Cluster: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ready(self) -> bool: ...

    async def authenticate(self, key: str | None) -> Principal | None: ...
