"""The direct tree walk answers exactly what scikit-learn's predict answers."""

from __future__ import annotations

import numpy as np
import pytest

from tickcast.predict.blobs import dump_estimator, load_estimator
from tickcast.predict.inference import (
    ForestPredictor,
    SklearnPredictor,
    TreePredictor,
    predictor_for,
)
from tickcast.predict.spec import ALGORITHMS, ModelRef
from tickcast.predict.training import table_from_rows, train


def _rows(rng: np.random.Generator, n: int, model_type: str) -> list[dict[str, object]]:
    X = rng.normal(size=(n, 3)).round(2)
    rows: list[dict[str, object]] = []
    for a, b, c in X.tolist():
        target: object = "up" if a + b > 0 else "down" if c > 0 else "flat"
        if model_type == "reg":
            target = 2 * a - b + 0.1 * c
        rows.append({"a": a, "b": b, "c": c, "y": target})
    return rows


@pytest.mark.parametrize("model_type", ["class", "reg"])
@pytest.mark.parametrize(
    ("algorithm", "kind"), [("decision_tree", TreePredictor), ("random_forest", ForestPredictor)]
)
def test_tree_walk_equals_sklearn(model_type: str, algorithm: str, kind: type) -> None:
    rng = np.random.default_rng(7)
    table = table_from_rows(_rows(rng, 400, model_type), "y")
    ref = ModelRef.checked("u", "s", "m", model_type)
    meta, estimator = train(table, ref=ref, algorithm=algorithm)
    predictor = predictor_for(meta, load_estimator(dump_estimator(estimator)))
    assert isinstance(predictor, kind) and not predictor.blocking
    probes = rng.normal(size=(2000, 3))
    # values exactly on (and one float32 step above) the thresholds of the (first) tree
    tree = getattr(estimator, "estimators_", [estimator])[0].tree_
    edges = []
    for node in np.flatnonzero(tree.children_left != -1):
        for value in (tree.threshold[node], np.nextafter(np.float32(tree.threshold[node]), 9)):
            row = rng.normal(size=3)
            row[tree.feature[node]] = value
            edges.append(row)
    probes = np.vstack([probes, *edges])
    expected = estimator.predict(probes).tolist()
    got = predictor.predict(probes.tolist())
    if model_type == "class":
        assert got == [str(v) for v in expected]
    else:
        assert got == [float(v) for v in expected]


@pytest.mark.parametrize(
    ("algorithm", "model_type"),
    [
        (a, t)
        for a, types in ALGORITHMS.items()
        for t in types
        if a not in ("decision_tree", "random_forest")
    ],
)
def test_every_algorithm_round_trips_through_skops(algorithm: str, model_type: str) -> None:
    rng = np.random.default_rng(3)
    table = table_from_rows(_rows(rng, 60, model_type), "y")
    ref = ModelRef.checked("u", "s", "m", model_type)
    meta, estimator = train(table, ref=ref, algorithm=algorithm)
    predictor = predictor_for(meta, load_estimator(dump_estimator(estimator)))
    assert isinstance(predictor, SklearnPredictor)
    probes = rng.normal(size=(20, 3))
    expected = estimator.predict(probes).tolist()
    if model_type == "class":
        assert predictor.predict(probes.tolist()) == [str(v) for v in expected]
        assert set(meta.metrics) == {"accuracy", "f1_macro"}
    else:
        assert predictor.predict(probes.tolist()) == [float(v) for v in expected]
        assert set(meta.metrics) == {"r2", "mae", "rmse"}
