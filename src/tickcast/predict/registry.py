"""The model registry: train, store, load and serve models of a :class:`ModelRepository`.

Loaded models are cached per (user, strategy, name, type) with the version they hold; a cached
entry is re-checked against the repository at most every ``recheck_s`` seconds, so a model
retrained or deleted by the CLI (which writes the data dir directly) is picked up without a
restart. Changes made through the registry itself take effect at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from tickcast.predict.blobs import check_blob, load_estimator
from tickcast.predict.inference import Predictor, predictor_for
from tickcast.predict.repository import ModelRepository
from tickcast.predict.spec import ModelError, ModelMeta, ModelRef
from tickcast.predict.training import Table, train_to_blob

logger = logging.getLogger("tickcast.predict")


@dataclass(slots=True)
class LoadedModel:
    meta: ModelMeta
    predictor: Predictor
    checked_at: float


class ModelRegistry:
    def __init__(
        self,
        repository: ModelRepository,
        *,
        executor: Executor | None = None,
        recheck_s: float = 1.0,
        now: Callable[[], float] = time.monotonic,
        time_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.repository = repository
        self.executor = executor
        """Where training runs (a process pool in the server); None: the default thread pool."""
        self.recheck_s = recheck_s
        self._now = now
        self._time_ns = time_ns
        self._cache: dict[ModelRef, LoadedModel] = {}
        self._loading: dict[ModelRef, asyncio.Future[LoadedModel | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.training = 0
        """Trainings running in the executor."""

    async def train(
        self, table: Table, ref: ModelRef, *, algorithm: str, seed: int = 0, source: str = "rows"
    ) -> ModelMeta:
        """Fit in the executor, store as the next version, and serve it from now on."""
        loop = asyncio.get_running_loop()
        self.training += 1
        try:
            meta, blob = await loop.run_in_executor(
                self.executor, train_to_blob, table, ref, algorithm, seed, source, self._time_ns()
            )
        finally:
            self.training -= 1
        stored = await self.repository.save(meta, blob)
        self._cache.pop(ref, None)
        return stored

    async def import_blob(
        self,
        ref: ModelRef,
        blob: bytes,
        *,
        features: tuple[str, ...],
        target: str = "target",
    ) -> ModelMeta:
        """Store an uploaded skops file as the next version (refused unless it is safe)."""
        loop = asyncio.get_running_loop()
        meta = await loop.run_in_executor(None, _imported_meta, ref, blob, features, target)
        stored = await self.repository.save(
            ModelMeta(
                ref=meta.ref,
                version=0,
                algorithm=meta.algorithm,
                features=meta.features,
                target=meta.target,
                rows=0,
                metrics={},
                classes=meta.classes,
                created_ns=self._time_ns(),
                source="import",
            ),
            blob,
        )
        self._cache.pop(ref, None)
        return stored

    async def delete(self, ref: ModelRef) -> bool:
        self._cache.pop(ref, None)
        return await self.repository.delete(ref)

    def cached(self, ref: ModelRef) -> LoadedModel | None:
        """The cached model, without I/O. An entry older than ``recheck_s`` is still returned,
        and a re-check against the repository starts in the background (so the request path
        never waits for the disk); the next request sees its outcome."""
        entry = self._cache.get(ref)
        if entry is not None and self._now() - entry.checked_at > self.recheck_s:
            if ref not in self._loading:
                task = asyncio.get_running_loop().create_task(self._recheck(ref, entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return entry

    async def _recheck(self, ref: ModelRef, entry: LoadedModel) -> None:
        try:
            await self._load_once(ref)
        except Exception as error:  # keep serving the version we have
            logger.warning("model %s: re-check failed (%s); keeping v%d", ref, error,
                           entry.meta.version)  # fmt: skip
            entry.checked_at = self._now()

    async def load(self, ref: ModelRef) -> LoadedModel | None:
        """The newest version of a model, ready to predict; None if there is no such model."""
        entry = self._cache.get(ref)
        if entry is not None and self._now() - entry.checked_at <= self.recheck_s:
            return entry
        return await self._load_once(ref)

    async def _load_once(self, ref: ModelRef) -> LoadedModel | None:
        """``_load``, shared by concurrent callers."""
        pending = self._loading.get(ref)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LoadedModel | None] = asyncio.get_running_loop().create_future()
        self._loading[ref] = future
        try:
            result = await self._load(ref)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._loading[ref]

    async def _load(self, ref: ModelRef) -> LoadedModel | None:
        meta = await self.repository.latest(ref)
        if meta is None:
            self._cache.pop(ref, None)
            return None
        entry = self._cache.get(ref)
        if entry is not None and entry.meta.version == meta.version:
            entry.checked_at = self._now()
            return entry
        blob = await self.repository.blob(ref, meta.version)
        predictor = await asyncio.get_running_loop().run_in_executor(
            None, _predictor_from, meta, blob
        )
        entry = LoadedModel(meta, predictor, self._now())
        self._cache[ref] = entry
        return entry


def _predictor_from(meta: ModelMeta, blob: bytes) -> Predictor:
    estimator = load_estimator(blob)
    n_features = getattr(estimator, "n_features_in_", len(meta.features))
    if n_features != len(meta.features):
        raise ModelError(f"model {meta.ref}: estimator takes {n_features} features")
    return predictor_for(meta, estimator)


_ALGORITHM_OF: dict[str, str] = {
    "DecisionTreeClassifier": "decision_tree",
    "DecisionTreeRegressor": "decision_tree",
    "RandomForestClassifier": "random_forest",
    "RandomForestRegressor": "random_forest",
    "GradientBoostingClassifier": "gradient_boosting",
    "GradientBoostingRegressor": "gradient_boosting",
    "LogisticRegression": "logistic_regression",
    "LinearRegression": "linear_regression",
    "KNeighborsClassifier": "knn",
    "KNeighborsRegressor": "knn",
}


def _imported_meta(ref: ModelRef, blob: bytes, features: tuple[str, ...], target: str) -> ModelMeta:
    check_blob(blob)
    estimator: Any = load_estimator(blob)
    algorithm = _ALGORITHM_OF[type(estimator).__name__]
    classify = hasattr(estimator, "classes_")
    if classify != (ref.type == "class"):
        raise ModelError(f"the uploaded estimator does not fit model type {ref.type!r}")
    if not features or len(set(features)) != len(features):
        raise ModelError("give the feature names, distinct and in order")
    if getattr(estimator, "n_features_in_", len(features)) != len(features):
        raise ModelError(f"the estimator takes {estimator.n_features_in_} features")
    return ModelMeta(
        ref=ref,
        version=0,
        algorithm=algorithm,
        features=features,
        target=target,
        rows=0,
        metrics={},
        classes=tuple(str(c) for c in getattr(estimator, "classes_", ())),
    )
