"""The /ws prediction dialect, byte for byte and without sockets."""

from __future__ import annotations

import json
from collections import OrderedDict
from decimal import Decimal

from tickcast.dialects.predictions.wire import protocol as p
from tickcast.dialects.predictions.wire.protocol import PredictionSession, PredictRequest, Reply

KEY = "tc_live_abc123"


def request(**fields: object) -> str:
    message: dict[str, object] = {
        "api_key": KEY,
        "strat_name": "example_strategy",
        "model_name": "DecisionTree",
        "model_type": "class",
        "DataPoints": [{"point1": 3, "point2": 2}, {"point1": 1, "point2": 3}],
    }
    message.update(fields)
    return json.dumps(message)


def error_of(outcome: PredictRequest | Reply) -> dict[str, object]:
    assert isinstance(outcome, Reply)
    result: dict[str, object] = json.loads(outcome.frame)
    return result


def test_documented_strings_byte_exact() -> None:
    assert p.VALID_KEY_FRAME == b'{"status":"success","message":"Valid API key."}'
    assert p.INVALID_KEY_FRAME == b'{"status":"error","message":"Invalid API key."}'
    assert p.error_frame(1, p.MODEL_NOT_FOUND) == (
        b'{"type":"error","seq_num":1,"message":"Model configuration not found in the backend."}'
    )
    assert p.success_frame(1, new=False, predictions=["7"]) == (
        b'{"type":"success","seq_num":1,"message":"Existing model data used for prediction",'
        b'"prediction":"7"}'
    )
    assert json.loads(p.success_frame(2, new=True, predictions=[0.5, 1.5])) == {
        "type": "success",
        "seq_num": 2,
        "message": "New model configuration added, prediction made",
        "prediction": 1.5,
        "predictions": [0.5, 1.5],
    }


def test_first_frame_key() -> None:
    assert p.key_of_frame(KEY) == KEY
    assert p.key_of_frame(f" {KEY}\n") == KEY
    for bad in (None, b"tc_live_x", "", "   ", '{"api_key": "x"}', "two words", "k" * 201):
        assert p.key_of_frame(bad) is None


def test_session_requests_and_seq_numbers() -> None:
    session = PredictionSession(KEY)
    assert session.receive(KEY) == Reply(p.VALID_KEY_FRAME)  # the vendor sample's re-send
    first = session.receive(request())
    assert first == PredictRequest(
        1, "example_strategy", "DecisionTree", "class", [{"point1": 3, "point2": 2},
                                                          {"point1": 1, "point2": 3}]
    )  # fmt: skip
    assert session.receive(KEY) == Reply(p.VALID_KEY_FRAME)  # no seq_num consumed
    assert error_of(session.receive("nope")) == {
        "type": "error",
        "seq_num": 2,
        "message": "Invalid JSON.",
    }
    assert error_of(session.receive(b"\x00\x01"))["message"] == "Invalid JSON."
    assert error_of(session.receive("[1]"))["message"] == p.NOT_AN_OBJECT
    assert error_of(session.receive(request(api_key="other")))["message"] == "Invalid API key."
    assert error_of(session.receive(request(model_type="svm")))["message"] == p.MODEL_TYPE
    assert error_of(session.receive(request(DataPoints=[])))["message"] == p.BAD_POINTS
    assert error_of(session.receive(request(strat_name=7)))["message"] == p.MODEL_NOT_FOUND
    missing = json.loads(request())
    del missing["DataPoints"]
    assert error_of(session.receive(json.dumps(missing)))["message"] == (
        "Missing field 'DataPoints'."
    )
    last = session.receive(request(model_type="reg"))
    assert isinstance(last, PredictRequest) and last.seq == 10 and session.requests == 10


def test_rows_of_points() -> None:
    features = ("point1", "point2")
    assert p.rows_of([{"point2": 2, "point1": 3.5}, [1, 0]], features) == [[3.5, 2.0], [1.0, 0.0]]
    assert p.rows_of([{"point1": 1, "point3": 2}], features) == (
        "DataPoints[0] must have the 2 features used in training (point1, point2): "
        "missing point2; unknown point3."
    )
    assert p.rows_of([{"point1": 1, "point2": 2}, [1]], features) == (
        "DataPoints[1] must have the 2 features used in training (point1, point2), got 1."
    )
    assert p.rows_of([{"point1": True, "point2": 2}], features) == (
        "DataPoints[0].point1 must be a number."
    )
    assert p.rows_of([[1, None]], features) == "DataPoints[0].1 must be a number."
    assert p.rows_of([{"point1": 1e400, "point2": 2}], features) == (
        "DataPoints[0].point1 must be a finite number."
    )
    assert p.rows_of(["x"], features) == (
        "DataPoints[0] must be an object of features (point1, point2)."
    )


def test_rows_of_fast_path_answers_as_the_checked_path() -> None:
    """``rows_of`` takes plain JSON points without per-value checks; every input gives what
    the point-by-point checks give (rows or the same message)."""
    features = ("point1", "point2")
    big = 1.5e308  # finite, but two of them sum to inf: the fast path must not refuse them
    cases: list[list[object]] = [
        [{"point1": 1, "point2": 2.5}, [3, 4]],
        [[big, big]],
        [{"point1": float("nan"), "point2": 1}],
        [[float("-inf"), 1]],
        [[float("inf"), float("-inf")]],
        [{"point1": 1, "point2": False}],
        [[1, "2"]],
        [{"point1": 1, "point2": 2, "point3": 3}],
        [{"point1": 1, "point3": 2}],
        [[1, 2], {"point2": 1}],
        [[1, 2, 3]],
        [(1, 2)],
        [OrderedDict(point1=1, point2=2)],
        [{"point1": Decimal(1), "point2": 2}],
        [[IntSubclass(1), 2]],
    ]
    for points in cases:
        assert p.rows_of(points, features) == p._checked_rows(points, features), points
    assert p.rows_of([[big, big]], features) == [[big, big]]
    assert p.rows_of([OrderedDict(point2=2, point1=1)], features) == [[1.0, 2.0]]


class IntSubclass(int):
    pass


def test_repeated_key_with_whitespace_is_still_the_key() -> None:
    session = PredictionSession(KEY)
    assert session.receive(f"  {KEY}\n") == Reply(p.VALID_KEY_FRAME)
    assert session.receive(f"{KEY}\t") == Reply(p.VALID_KEY_FRAME)
    assert session.seq == 0
    assert error_of(session.receive("{" + KEY))["message"] == "Invalid JSON."
