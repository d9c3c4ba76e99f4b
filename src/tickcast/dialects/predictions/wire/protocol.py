"""The WebSocket prediction protocol at ``/ws`` (Nember-compatible), sans-I/O.

Wire (docs/predictions.md, protocols/README.md §3)::

    C→S  YOUR-API-KEY                                  raw key, first text frame
    S→C  {"status":"success","message":"Valid API key."}
      or {"status":"error","message":"Invalid API key."}        then close 1008
    C→S  {"api_key":..., "strat_name":..., "model_name":..., "model_type":"class"|"reg",
          "DataPoints":[{"point1":3,"point2":2}, ...]}
    S→C  {"type":"success","seq_num":1,"message":...,"prediction":...}
      or {"type":"error","seq_num":1,"message":...}

One reply per request, in order; ``seq_num`` counts a connection's requests from 1 (errors
included). The raw key sent again on an authenticated connection is answered with the same
success object and consumes no ``seq_num``: the vendor's sample client never recognises
``"Valid API key."`` (it compares the message with ``"valid"``) and re-sends the key every
second, and it must keep working.

This module turns frames into :class:`PredictRequest` values or reply bytes; the server
module owns the socket, the key check, the models and the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

FEATURE = "predictions-ws"
"""The plan feature (``Plan.allows_feed``) granting ``/ws``, and the dialect's name."""

AUTH_TIMEOUT_S = 10.0
"""Seconds a new connection has to send its key."""
MAX_POINTS = 1_000
"""Data points in one request."""
MAX_KEY_CHARS = 200

VALID_API_KEY = "Valid API key."
INVALID_API_KEY = "Invalid API key."
PLAN_REFUSED = "Plan does not include websocket predictions."
CONNECTION_LIMIT = "Connection limit exceeded."
SERVER_OVERLOADED = "Server overloaded, retry later."
NEW_MODEL = "New model configuration added, prediction made"
EXISTING_MODEL = "Existing model data used for prediction"
MODEL_NOT_FOUND = "Model configuration not found in the backend."
INVALID_JSON = "Invalid JSON."
NOT_AN_OBJECT = "A request must be a JSON object."
MODEL_TYPE = "model_type must be 'class' or 'reg'."
BAD_POINTS = "DataPoints must be a non-empty list of at most 1000 data points."
MODEL_FAILED = "Prediction failed."

POLICY_VIOLATION = 1008
"""Close code after an auth refusal (reason: the refusal message)."""

REQUEST_FIELDS = ("api_key", "strat_name", "model_name", "model_type", "DataPoints")
MODEL_TYPES = ("class", "reg")

Prediction = str | float
"""A class label, or a regression value."""


def auth_frame(success: bool, message: str) -> bytes:
    """The reply to a key frame (``status`` discriminator)."""
    return orjson.dumps({"status": "success" if success else "error", "message": message})


VALID_KEY_FRAME = auth_frame(True, VALID_API_KEY)
INVALID_KEY_FRAME = auth_frame(False, INVALID_API_KEY)


def error_frame(seq: int, message: str) -> bytes:
    """A request's error reply (``type`` discriminator)."""
    return orjson.dumps({"type": "error", "seq_num": seq, "message": message})


def success_frame(seq: int, *, new: bool, predictions: Sequence[Prediction]) -> bytes:
    """A request's answer: ``prediction`` is the last data point's (the newest, for a time
    series); with several data points, ``predictions`` lists one per point, in order."""
    reply: dict[str, object] = {
        "type": "success",
        "seq_num": seq,
        "message": NEW_MODEL if new else EXISTING_MODEL,
        "prediction": predictions[-1],
    }
    if len(predictions) > 1:
        reply["predictions"] = list(predictions)
    return orjson.dumps(reply)


def key_of_frame(data: str | bytes | None) -> str | None:
    """The raw key of a first frame, or None if it cannot be one (binary, empty, JSON...)."""
    if not isinstance(data, str):
        return None
    key = data.strip()
    if not key or len(key) > MAX_KEY_CHARS or key[0] in '{["' or any(c.isspace() for c in key):
        return None
    return key


@dataclass(frozen=True, slots=True)
class PredictRequest:
    seq: int
    strategy: str
    model: str
    model_type: str
    points: list[object]


@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes to send as they are (an error, or the answer to a repeated key)."""

    frame: bytes


class PredictionSession:
    """One authenticated connection's request parsing and ``seq_num`` counting."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seq = 0
        self.requests = 0

    def receive(self, data: str | bytes | None) -> PredictRequest | Reply:
        """A frame after authentication: a request to answer, or a reply ready to send."""
        # a request starts with "{", which no key does (key_of_frame): strip only otherwise
        if isinstance(data, str) and data[:1] != "{" and data.strip() == self.key:
            return Reply(VALID_KEY_FRAME)
        self.seq += 1
        self.requests += 1
        seq = self.seq
        if data is None:
            return Reply(error_frame(seq, INVALID_JSON))
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Reply(error_frame(seq, INVALID_JSON))
        if not isinstance(message, dict):
            return Reply(error_frame(seq, NOT_AN_OBJECT))
        for name in REQUEST_FIELDS:
            if name not in message:
                return Reply(error_frame(seq, f"Missing field '{name}'."))
        if message["api_key"] != self.key:
            return Reply(error_frame(seq, INVALID_API_KEY))
        strategy, model = message["strat_name"], message["model_name"]
        if not isinstance(strategy, str) or not isinstance(model, str):
            return Reply(error_frame(seq, MODEL_NOT_FOUND))
        model_type = message["model_type"]
        if model_type not in MODEL_TYPES:
            return Reply(error_frame(seq, MODEL_TYPE))
        points = message["DataPoints"]
        if not isinstance(points, list) or not points or len(points) > MAX_POINTS:
            return Reply(error_frame(seq, BAD_POINTS))
        return PredictRequest(seq, strategy, model, model_type, points)


_NUMBERS = frozenset((int, float))


def rows_of(points: Sequence[object], features: Sequence[str]) -> list[list[float]] | str:
    """Feature rows in training order, or the error message explaining what is wrong.

    A data point is an object with exactly the training features as keys (any order), or an
    array of as many numbers, in training order. Values are finite numbers (not booleans).
    """
    rows = _plain_rows(points, features)
    return rows if rows is not None else _checked_rows(points, features)


def _plain_rows(points: Sequence[object], features: Sequence[str]) -> list[list[float]] | None:
    """The rows when every point is a well-formed dict or list of plain finite ``int`` and
    ``float`` values (what a JSON request decodes to), else None: then ``_checked_rows``
    finds the error, or converts what this fast path does not take (a Mapping, a subclass)."""
    count = len(features)
    numbers = _NUMBERS
    rows: list[list[float]] = []
    for point in points:
        values: list[Any]  # their types are checked below
        if type(point) is dict and len(point) == count:
            try:
                values = [point[name] for name in features]
            except KeyError:
                return None
        elif type(point) is list and len(point) == count:
            values = point
        else:
            return None
        for value in values:
            if type(value) not in numbers:
                return None
        row = [float(value) for value in values]
        if not math.isfinite(sum(row)):  # inf or nan in it (or a sum that overflows)
            return None
        rows.append(row)
    return rows


def _checked_rows(points: Sequence[object], features: Sequence[str]) -> list[list[float]] | str:
    """``rows_of`` for any input: each point and value checked, in order, for its message."""
    rows: list[list[float]] = []
    expected = ", ".join(features)
    count = len(features)
    for index, point in enumerate(points):
        where = f"DataPoints[{index}]"
        if isinstance(point, Mapping):
            if len(point) != count or any(name not in point for name in features):
                missing = [name for name in features if name not in point]
                unknown = [str(name) for name in point if name not in features]
                detail = []
                if missing:
                    detail.append("missing " + ", ".join(missing))
                if unknown:
                    detail.append("unknown " + ", ".join(unknown))
                return (
                    f"{where} must have the {count} features used in training ({expected}): "
                    + "; ".join(detail)
                    + "."
                )
            values = [point[name] for name in features]
            names: Sequence[str] = features
        elif isinstance(point, list):
            if len(point) != count:
                return (
                    f"{where} must have the {count} features used in training ({expected}), "
                    f"got {len(point)}."
                )
            values = point
            names = [str(i) for i in range(count)]
        else:
            return f"{where} must be an object of features ({expected})."
        row: list[float] = []
        for name, value in zip(names, values, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{where}.{name} must be a number."
            number = float(value)
            if not math.isfinite(number):
                return f"{where}.{name} must be a finite number."
            row.append(number)
        rows.append(row)
    return rows
