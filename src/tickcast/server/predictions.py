"""Wiring of the prediction service: registry, ``/ws`` endpoint, live predictions, routes.

``mount_predictions(app, node)`` is the one call ``build_app`` makes; the service starts and
stops with the app (``start``/``stop``). Training runs in a one-process pool (spawned on first
use) so that fitting a model never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.process
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from fastapi import FastAPI
from starlette.routing import WebSocketRoute

from tickcast.predict.registry import ModelRegistry
from tickcast.predict.repository import FilesystemRepository
from tickcast.server.live_predictions import LivePredictions
from tickcast.server.node import Node
from tickcast.server.orphans import die_with_parent
from tickcast.server.predictions_ws import PredictionConnection, predictions_endpoint

WS_PATH = "/ws"


def models_dir(data_dir: str | Path) -> Path:
    """Where the filesystem model repository of a data dir lives."""
    return Path(data_dir) / "models"


class PredictionService:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.auth_timeout = node.config.predictions_auth_timeout
        self.registry = ModelRegistry(
            FilesystemRepository(models_dir(node.config.data_dir)),
            time_ns=node.clock.time_ns,
        )
        self.connections: dict[str, PredictionConnection] = {}
        self.live = LivePredictions(node, self.registry)
        self._pool: ProcessPoolExecutor | None = None

    def training_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=die_with_parent,  # no orphan worker if the server is SIGKILLed
                initargs=(os.getpid(),),
            )
            self.registry.executor = self._pool
        return self._pool

    async def start(self) -> None:
        await self.live.start()

    async def stop(self) -> None:
        await self.live.stop()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self.registry.training:
            # a training in progress is abandoned: stop the worker (it is reaped below)
            pool.shutdown(wait=False, cancel_futures=True)
            processes: dict[int, multiprocessing.process.BaseProcess] = (
                getattr(pool, "_processes", None) or {}
            )
            for process in list(processes.values()):
                process.terminate()
        await asyncio.to_thread(pool.shutdown, True)


def mount_predictions(app: FastAPI, node: Node) -> PredictionService:
    """Add ``/ws`` and the model routes to ``app``; the caller starts and stops the service."""
    from tickcast.server.control.models import router

    service = PredictionService(node)
    app.include_router(router)
    app.router.routes.append(WebSocketRoute(WS_PATH, predictions_endpoint))
    return service
