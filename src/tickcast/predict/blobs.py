"""Estimators to bytes and back, safely: skops with an explicit trusted-types list.

Nothing here ever unpickles. :func:`load_estimator` refuses anything that is not a skops file
(a pickle upload is refused before any byte of it is interpreted), any file whose types are not
all in :data:`TRUSTED_TYPES` (skops' own default-trusted types plus the three scikit-learn
internals listed here), and any file whose top-level object is not one of the estimators the
registry trains (:data:`ESTIMATOR_TYPES`).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from tickcast.predict.spec import ModelError

ESTIMATOR_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._regression.KNeighborsRegressor",
    }
)
"""Fully qualified classes a stored model may be."""

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
)
"""Types beyond skops' defaults that our estimators contain; every other type is refused."""

MAX_BLOB_BYTES = 256 * 1024 * 1024


def dump_estimator(estimator: object) -> bytes:
    import skops.io

    data: bytes = skops.io.dumps(estimator)
    return data


def check_blob(blob: bytes) -> None:
    """ModelError unless ``blob`` is a skops file whose types are all trusted."""
    import skops.io

    if len(blob) > MAX_BLOB_BYTES:
        raise ModelError("model file too large")
    if not zipfile.is_zipfile(io.BytesIO(blob)):
        raise ModelError("not a skops model file (pickle and other formats are refused)")
    try:
        untrusted = skops.io.get_untrusted_types(data=blob)
    except Exception:
        raise ModelError("not a valid skops model file") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise ModelError(f"model file contains untrusted types: {', '.join(refused)}")


def load_estimator(blob: bytes) -> Any:
    """The estimator in a skops blob, after :func:`check_blob` and a class check."""
    import skops.io

    check_blob(blob)
    try:
        estimator = skops.io.loads(blob, trusted=list(TRUSTED_TYPES))
    except Exception:
        raise ModelError("model file could not be loaded") from None
    kind = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
    if kind not in ESTIMATOR_TYPES:
        raise ModelError(f"model file holds a {kind}, not a supported estimator")
    return estimator


def estimator_type(estimator: object) -> str:
    return f"{type(estimator).__module__}.{type(estimator).__qualname__}"
