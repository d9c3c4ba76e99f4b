"""Model names, algorithms and metadata: plain data, no scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tickcast.errors import InvalidMessage
from tickcast.model.names import PATH_NAME_RULE, USER_NAME_RULE, is_path_name, is_user_name

CLASS = "class"
REG = "reg"
MODEL_TYPES = (CLASS, REG)

ALGORITHMS: dict[str, tuple[str, ...]] = {
    "decision_tree": (CLASS, REG),
    "random_forest": (CLASS, REG),
    "gradient_boosting": (CLASS, REG),
    "logistic_regression": (CLASS,),
    "linear_regression": (REG,),
    "knn": (CLASS, REG),
}
"""Algorithm name → the model types it can train."""

DEFAULT_ALGORITHM = "decision_tree"


class ModelError(InvalidMessage):
    """Bad training input or a model that cannot be stored or loaded; the message says why."""


def check_name(what: str, value: object) -> str:
    """A strategy or model name: 1-64 of letters, digits, ``_.-``, not starting with ``.``."""
    if not isinstance(value, str) or not is_path_name(value):
        raise ModelError(f"invalid {what} {value!r}: {PATH_NAME_RULE}")
    return value


def check_type(value: object) -> str:
    if value not in MODEL_TYPES:
        raise ModelError(f"invalid model type {value!r}: use 'class' or 'reg'")
    return str(value)


def check_algorithm(algorithm: object, model_type: str) -> str:
    types = ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if types is None:
        raise ModelError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if model_type not in types:
        raise ModelError(f"algorithm {algorithm!r} cannot train a {model_type!r} model")
    return str(algorithm)


@dataclass(frozen=True, slots=True, order=True)
class ModelRef:
    """Which model: a user's (strategy, name, type)."""

    user: str
    strategy: str
    name: str
    type: str

    @classmethod
    def checked(cls, user: str, strategy: str, name: str, model_type: str) -> ModelRef:
        if not is_user_name(user):
            raise ModelError(f"invalid user name {user!r}: {USER_NAME_RULE}")
        return cls(
            user,
            check_name("strategy", strategy),
            check_name("model name", name),
            check_type(model_type),
        )

    def __str__(self) -> str:
        return f"{self.user}/{self.strategy}/{self.type}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelMeta:
    """What the registry knows about one version of a model."""

    ref: ModelRef
    version: int
    algorithm: str
    features: tuple[str, ...]
    """Feature names in the order the estimator takes them."""
    target: str
    rows: int
    """Rows the final model was fitted on (training and held-out rows together)."""
    metrics: dict[str, float]
    """Scores on the held-out split (see docs/predictions.md)."""
    classes: tuple[str, ...] = ()
    """Class labels of a ``class`` model, as strings."""
    created_ns: int = 0
    source: str = "rows"
    """Where the rows came from: ``csv``, ``json``, ``market:<id>`` or ``import``."""
    format: str = "skops"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.ref.user,
            "strategy": self.ref.strategy,
            "name": self.ref.name,
            "type": self.ref.type,
            "version": self.version,
            "algorithm": self.algorithm,
            "features": list(self.features),
            "target": self.target,
            "rows": self.rows,
            "metrics": dict(self.metrics),
            "classes": list(self.classes),
            "created_ns": self.created_ns,
            "source": self.source,
            "format": self.format,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMeta:
        try:
            ref = ModelRef.checked(data["user"], data["strategy"], data["name"], data["type"])
            return cls(
                ref=ref,
                version=int(data["version"]),
                algorithm=str(data["algorithm"]),
                features=tuple(str(f) for f in data["features"]),
                target=str(data["target"]),
                rows=int(data["rows"]),
                metrics={str(k): float(v) for k, v in data["metrics"].items()},
                classes=tuple(str(c) for c in data.get("classes", ())),
                created_ns=int(data.get("created_ns", 0)),
                source=str(data.get("source", "rows")),
                format=str(data.get("format", "skops")),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelError(f"corrupt model metadata: {error}") from None
