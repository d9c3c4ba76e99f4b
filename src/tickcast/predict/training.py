"""Training: rows (CSV text or JSON objects) → a fitted scikit-learn estimator and metadata.

Rows are split 75/25 (seeded) into a training and a held-out part; the held-out metrics are
recorded, then the model is fitted again on every row, which is the version stored. Metrics:
``accuracy`` and ``f1_macro`` for ``class`` models, ``r2``, ``mae`` and ``rmse`` for ``reg``.
Feature values must be numbers; class labels are kept as strings. CPU-bound: callers run
:func:`train` off the event loop (the server uses a process pool).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tickcast.predict.spec import CLASS, ModelError, ModelMeta, ModelRef, check_algorithm

MIN_ROWS = 4
MAX_ROWS = 1_000_000
MAX_FEATURES = 1_000
HELD_OUT = 0.25


@dataclass(frozen=True, slots=True)
class Table:
    """Training rows: feature names in order, feature values, and the target column."""

    features: tuple[str, ...]
    values: list[list[float]]
    target: str
    labels: list[str]
    """The target column as text (class labels, or numbers for regression)."""


def _number(text: object, where: str) -> float:
    if isinstance(text, bool):
        raise ModelError(f"{where}: {text!r} is not a number")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ModelError(f"{where}: {text!r} is not a finite number")
    return value


def _check_sizes(features: Sequence[str], rows: int, target: str) -> None:
    if not features:
        raise ModelError(f"no feature columns besides the target {target!r}")
    if len(features) > MAX_FEATURES:
        raise ModelError(f"too many feature columns (at most {MAX_FEATURES})")
    if len(set(features)) != len(features):
        raise ModelError("duplicate column names")
    if rows < MIN_ROWS:
        raise ModelError(f"need at least {MIN_ROWS} rows, got {rows}")
    if rows > MAX_ROWS:
        raise ModelError(f"too many rows (at most {MAX_ROWS})")


def table_from_csv(text: str, target: str) -> Table:
    """A CSV with a header row; every column but ``target`` is a numeric feature."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ModelError("empty CSV") from None
    except csv.Error as error:
        raise ModelError(f"bad CSV: {error}") from None
    if target not in header:
        raise ModelError(f"target column {target!r} not in the CSV header ({', '.join(header)})")
    index = header.index(target)
    features = tuple(name for i, name in enumerate(header) if i != index)
    values: list[list[float]] = []
    labels: list[str] = []
    try:
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ModelError(f"CSV line {line}: {len(row)} columns, header has {len(header)}")
            labels.append(row[index].strip())
            values.append(
                [
                    _number(cell.strip(), f"CSV line {line}, column {header[i]!r}")
                    for i, cell in enumerate(row)
                    if i != index
                ]
            )
            if len(values) > MAX_ROWS:
                break
    except csv.Error as error:
        raise ModelError(f"bad CSV: {error}") from None
    _check_sizes(features, len(values), target)
    return Table(features, values, target, labels)


def table_from_rows(rows: Sequence[Mapping[str, Any]], target: str) -> Table:
    """JSON objects with the same keys; every key but ``target`` is a numeric feature, in the
    order of the first row."""
    if not rows:
        raise ModelError("no rows")
    first = rows[0]
    if not isinstance(first, Mapping):
        raise ModelError("rows must be JSON objects")
    if target not in first:
        raise ModelError(f"target {target!r} not in the first row")
    features = tuple(str(key) for key in first if key != target)
    expected = set(features) | {target}
    values: list[list[float]] = []
    labels: list[str] = []
    for number, row in enumerate(rows):
        if not isinstance(row, Mapping) or set(row) != expected:
            raise ModelError(f"row {number}: must have exactly the keys of the first row")
        label = row[target]
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        labels.append(str(label).strip())
        values.append([_number(row[name], f"row {number}, {name!r}") for name in features])
    _check_sizes(features, len(values), target)
    return Table(features, values, target, labels)


def _estimator(algorithm: str, model_type: str, seed: int) -> Any:
    classify = model_type == CLASS
    if algorithm == "decision_tree":
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        return (DecisionTreeClassifier if classify else DecisionTreeRegressor)(random_state=seed)
    if algorithm == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(n_estimators=50, random_state=seed)
    if algorithm == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        cls = GradientBoostingClassifier if classify else GradientBoostingRegressor
        return cls(random_state=seed)
    if algorithm == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if algorithm == "linear_regression":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    return (KNeighborsClassifier if classify else KNeighborsRegressor)(n_neighbors=5)


def _targets(table: Table, model_type: str) -> list[Any]:
    if model_type == CLASS:
        if len(set(table.labels)) < 2:
            raise ModelError(f"target {table.target!r} has fewer than two classes")
        return list(table.labels)
    return [_number(label, f"target {table.target!r}") for label in table.labels]


def _metrics(model_type: str, truth: Sequence[Any], predicted: Sequence[Any]) -> dict[str, float]:
    from sklearn import metrics

    if model_type == CLASS:
        return {
            "accuracy": float(metrics.accuracy_score(truth, predicted)),
            "f1_macro": float(metrics.f1_score(truth, predicted, average="macro")),
        }
    mse = float(metrics.mean_squared_error(truth, predicted))
    return {
        "r2": float(metrics.r2_score(truth, predicted)),
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "rmse": math.sqrt(mse),
    }


def train(
    table: Table,
    *,
    ref: ModelRef,
    algorithm: str,
    seed: int = 0,
    source: str = "rows",
    created_ns: int = 0,
) -> tuple[ModelMeta, Any]:
    """Fit ``algorithm`` on ``table``; metadata (version 0: the repository numbers it) and the
    estimator fitted on every row."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    algorithm = check_algorithm(algorithm, ref.type)
    targets = _targets(table, ref.type)
    X = np.asarray(table.values, dtype=np.float64)
    y = np.asarray(targets)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=HELD_OUT, random_state=seed)
    if ref.type == CLASS and len(set(y_train.tolist())) < 2:
        raise ModelError("the training split has a single class; give more varied rows")
    if algorithm == "knn" and len(X_train) < 5:
        raise ModelError("knn needs at least 5 training rows (7 rows in all)")
    held_out = _estimator(algorithm, ref.type, seed).fit(X_train, y_train)
    scores = _metrics(ref.type, y_test.tolist(), held_out.predict(X_test).tolist())
    final = _estimator(algorithm, ref.type, seed).fit(X, y)
    classes = tuple(str(c) for c in getattr(final, "classes_", ()))
    meta = ModelMeta(
        ref=ref,
        version=0,
        algorithm=algorithm,
        features=table.features,
        target=table.target,
        rows=len(table.values),
        metrics=scores,
        classes=classes,
        created_ns=created_ns,
        source=source,
        extra={"held_out_rows": len(X_test), "seed": seed},
    )
    return meta, final


def train_to_blob(
    table: Table, ref: ModelRef, algorithm: str, seed: int, source: str, created_ns: int
) -> tuple[ModelMeta, bytes]:
    """:func:`train` and serialise: the picklable entry point for a process pool."""
    from tickcast.predict.blobs import dump_estimator

    meta, estimator = train(
        table, ref=ref, algorithm=algorithm, seed=seed, source=source, created_ns=created_ns
    )
    return meta, dump_estimator(estimator)
