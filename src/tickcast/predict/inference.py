"""A fitted estimator as a lean per-request predictor.

scikit-learn's ``predict`` validates its input on every call, which costs about 0.1 ms: more
than the whole budget of a one-row request. For decision trees :class:`TreePredictor` walks
the fitted tree's arrays directly (in plain Python lists, each node's answer precomputed), with
the inputs rounded to float32 exactly as scikit-learn does before comparing them with the
thresholds; tests check it answers exactly what ``predict`` answers. Other estimators go through
``predict`` (:class:`SklearnPredictor`); those that may take milliseconds are flagged
``blocking`` so the server runs them in a worker thread. Random forests are walked tree by
tree too (:class:`ForestPredictor`), summing the leaves' values in the estimators' order and
dividing by their number, the same floating-point operations scikit-learn performs.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from tickcast.predict.spec import CLASS, ModelMeta

Value = str | float
"""A prediction: the class label of a ``class`` model, a number for ``reg``."""

_BLOCKING = frozenset({"gradient_boosting", "knn"})


INLINE_TREE_WALKS = 2_000
"""Tree walks (rows × trees, about 1 µs each) a request may do on the event loop; a bigger
request runs in a worker thread (see :func:`runs_inline`)."""


class TreePredictor:
    """A fitted DecisionTreeClassifier/Regressor, evaluated without scikit-learn."""

    blocking = False
    trees = 1

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


class _Tree:
    """One fitted tree's arrays as lists, with the raw leaf values."""

    __slots__ = ("left", "right", "feature", "threshold", "value")

    def __init__(self, tree: Any, *, classify: bool) -> None:
        self.left: list[int] = tree.children_left.tolist()
        self.right: list[int] = tree.children_right.tolist()
        self.feature: list[int] = tree.feature.tolist()
        self.threshold: list[float] = tree.threshold.tolist()
        values = tree.value
        if classify:
            self.value: list[Any] = [values[n][0].tolist() for n in range(tree.node_count)]
        else:
            self.value = [float(values[n][0][0]) for n in range(tree.node_count)]

    def leaf(self, x: array[float]) -> Any:
        left, right, feature, threshold = self.left, self.right, self.feature, self.threshold
        node = 0
        while left[node] != -1:
            node = left[node] if x[feature[node]] <= threshold[node] else right[node]
        return self.value[node]


class ForestPredictor:
    """A fitted RandomForestClassifier/Regressor, evaluated without scikit-learn."""

    blocking = False

    def __init__(self, estimator: Any, *, classify: bool) -> None:
        self._trees = [_Tree(e.tree_, classify=classify) for e in estimator.estimators_]
        self.trees = len(self._trees)
        self._classify = classify
        self._classes = [str(c) for c in getattr(estimator, "classes_", ())]

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Value]:
        trees, count = self._trees, float(len(self._trees))
        answers: list[Value] = []
        for row in rows:
            x = array("f", row)
            if self._classify:
                sums = [0.0] * len(self._classes)
                for tree in trees:
                    for k, value in enumerate(tree.leaf(x)):
                        sums[k] += value
                means = [total / count for total in sums]
                answers.append(self._classes[means.index(max(means))])
            else:
                total = 0.0
                for tree in trees:
                    total += tree.leaf(x)
                answers.append(total / count)
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
        self.trees = 0

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Value]:
        X = self._np.asarray(rows, dtype=self._np.float64)
        with self._config(assume_finite=True):
            predicted = self._estimator.predict(X).tolist()
        if self._classify:
            return [str(value) for value in predicted]
        return [float(value) for value in predicted]


Predictor = TreePredictor | ForestPredictor | SklearnPredictor


def runs_inline(predictor: Predictor, rows: int) -> bool:
    """Whether predicting ``rows`` rows is cheap enough for the event loop."""
    return not predictor.blocking and rows * predictor.trees <= INLINE_TREE_WALKS


def predictor_for(meta: ModelMeta, estimator: Any) -> Predictor:
    """The fastest exact predictor for an estimator of ``meta``."""
    classify = meta.ref.type == CLASS
    if meta.algorithm == "decision_tree" and getattr(estimator, "n_outputs_", 1) == 1:
        return TreePredictor(estimator, classify=classify)
    if meta.algorithm == "random_forest" and getattr(estimator, "n_outputs_", 1) == 1:
        return ForestPredictor(estimator, classify=classify)
    return SklearnPredictor(estimator, classify=classify, blocking=meta.algorithm in _BLOCKING)
