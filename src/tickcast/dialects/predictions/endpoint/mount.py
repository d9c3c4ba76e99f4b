"""The prediction service's mount: ``/ws`` and the model routes, or nothing when predictions
are off (docs/predictions.md)."""

from __future__ import annotations

import logging

from starlette.routing import WebSocketRoute

from tickcast.config import ServerConfig
from tickcast.dialects.predictions.endpoint.service import WS_PATH, PredictionService
from tickcast.dialects.predictions.endpoint.ws import predictions_endpoint
from tickcast.features import available, require
from tickcast.server.dialect import Dialect
from tickcast.server.node import Node

logger = logging.getLogger("tickcast.server")


def predictions_enabled(config: ServerConfig) -> bool:
    """``predictions = "auto"`` turns ``/ws`` and the model routes on when the ``predict`` extra
    is installed; without it they are off and one line says so (docs/installing.md)."""
    if config.predictions == "off":
        return False
    if config.predictions == "on":
        require("predict", 'predictions (predictions = "on")')
        return True
    if not available("predict"):
        logger.warning(
            "predictions are off: /ws and /api/v1/models need tickcast's 'predict' extra "
            "(pip install 'tickcast[predict]')"
        )
        return False
    return True


def dialect(node: Node) -> Dialect | None:
    """``/ws`` and the model routes, or ``None`` when predictions are off."""
    if not predictions_enabled(node.config):
        return None
    from tickcast.dialects.predictions.endpoint.models import router  # needs the extra

    service = PredictionService(node)
    routes = [*router.routes, WebSocketRoute(WS_PATH, predictions_endpoint)]
    return Dialect(
        "predictions", routes=routes, service=service, start=service.start, stop=service.stop
    )
