"""A fitted estimator as a lean per-request predictor.

scikit-learn's ``predict`` validates its input on every call, which costs about 0.1 ms: more
than the whole budget of a one-row request. For decision trees :class:`TreePredictor` walks
the fitted tree's arrays directly (in plain Python lists, each node's answer precomputed), with
the inputs rounded to float32 exactly as scikit-learn does before comparing them with the
thresholds; tests check it answers exactly what ``predict`` answers. Other estimators go through
``predict`` (:class:`SklearnPredictor`); those that may take milliseconds are flagged
``blocking`` so the server runs them in a worker thread.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from tickcast.predict.spec import CLASS, ModelMeta

Value = str | float
"""A prediction: the class label of a ``class`` model, a number for ``reg``."""

_BLOCKING = frozenset({"random_forest", "gradient_boosting", "knn"})


class TreePredictor:
    """A fitted DecisionTreeClassifier/Regressor, evaluated without scikit-learn."""

    blocking = False

    def __init__(self, estimator: Any, *, classify: bool) -> None:
        tree = estimator.tree_
        self._left: list[int] = tree.children_left.tolist()
        self._right: list[int] = tree.children_right.tolist()
        self._feature: list[int] = tree.feature.tolist()
        self._threshold: list[float] = tree.threshold.tolist()
        values = tree.value
        answers: list[Value] = []
        if classify:
            classes = [str(c) for c in estimator.classes_]
            for node in range(tree.node_count):
                row = values[node][0].tolist()
                answers.append(classes[row.index(max(row))])  # first maximum, like argmax
        else:
            answers = [float(values[node][0][0]) for node in range(tree.node_count)]
        self._answer = answers

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Value]:
        left, right, feature, threshold = self._left, self._right, self._feature, self._threshold
        answers: list[Value] = []
        for row in rows:
            x = array("f", row)  # float32, as scikit-learn compares
            node = 0
            while left[node] != -1:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            answers.append(self._answer[node])
        return answers


class SklearnPredictor:
    """Any other estimator: ``predict`` on a float64 array, without finiteness checks (the
    dialect has already refused non-finite values)."""

    def __init__(self, estimator: Any, *, classify: bool, blocking: bool) -> None:
        import numpy as np
        import sklearn

        self._estimator = estimator
        self._classify = classify
        self._np = np
        self._config = sklearn.config_context
        self.blocking = blocking

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Value]:
        X = self._np.asarray(rows, dtype=self._np.float64)
        with self._config(assume_finite=True):
            predicted = self._estimator.predict(X).tolist()
        if self._classify:
            return [str(value) for value in predicted]
        return [float(value) for value in predicted]


Predictor = TreePredictor | SklearnPredictor


def predictor_for(meta: ModelMeta, estimator: Any) -> Predictor:
    """The fastest exact predictor for an estimator of ``meta``."""
    classify = meta.ref.type == CLASS
    if meta.algorithm == "decision_tree" and getattr(estimator, "n_outputs_", 1) == 1:
        return TreePredictor(estimator, classify=classify)
    return SklearnPredictor(estimator, classify=classify, blocking=meta.algorithm in _BLOCKING)
