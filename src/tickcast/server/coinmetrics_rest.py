"""REST placeholder (filled in below)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tickcast.server.coinmetrics_service import CoinMetricsService


def rest_routes(service: CoinMetricsService) -> list[BaseRoute]:
    return []
