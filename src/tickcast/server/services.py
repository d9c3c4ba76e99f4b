"""Typed access to the app's node and dialect services: one ``Services`` object on the app,
read through :func:`services_of` (or :func:`node_of`), instead of untyped ``app.state`` names.

``build_app`` creates it; every dialect service that has a lifecycle is started and stopped by
the app's lifespan through it (:meth:`Services.start`, :meth:`Services.stop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tickcast.server.coinmetrics_service import CoinMetricsService
    from tickcast.server.node import Node
    from tickcast.server.predictions import PredictionService
    from tickcast.server.socketio_feed import SocketIOFeed
    from tickcast.server.vega_feed import VegaFeed


@dataclass(eq=False)
class Services:
    node: Node
    socketio_feed: SocketIOFeed
    predictions: PredictionService | None = None
    vega: VegaFeed | None = None
    coinmetrics: CoinMetricsService | None = None

    async def start(self) -> None:
        """The node, then the dialect services that run tasks of their own."""
        await self.node.start()
        await self.socketio_feed.start()
        if self.predictions is not None:
            await self.predictions.start()

    async def stop(self) -> None:
        """The node (it closes every connection), then each dialect service, each one even if
        an earlier one failed."""
        try:
            await self.node.stop()
        finally:
            try:
                await self.socketio_feed.stop()
            finally:
                try:
                    if self.predictions is not None:
                        await self.predictions.stop()
                finally:
                    if self.vega is not None:
                        await self.vega.stop()


def services_of(app: Any) -> Services:
    """The app's services (``app``: the FastAPI/Starlette app, e.g. ``request.app``)."""
    services: Services = app.state.services
    return services


def node_of(app: Any) -> Node:
    return services_of(app).node
