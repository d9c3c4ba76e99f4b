"""Wiring of the prediction service: registry, ``/ws`` endpoint, live predictions, routes.

The service starts and stops with the app (``start``/``stop``; ``mount.dialect`` wires it).
Training runs in a one-process pool (spawned on first use) so that fitting a model never stalls the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.process
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tickcast.dialects.predictions.endpoint.live import LivePredictions
from tickcast.predict.registry import ModelRegistry
from tickcast.predict.repository import FilesystemRepository
from tickcast.server.node import Node
from tickcast.server.orphans import die_with_parent

if TYPE_CHECKING:
    from tickcast.dialects.predictions.endpoint.ws import PredictionConnection

logger = logging.getLogger("tickcast.server")
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
