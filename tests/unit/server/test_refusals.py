"""The refusal table (server/refusals.py), cell by cell: each error class in each dialect's wire
form, as docs/protocol.md, docs/dialects/socketio-feed.md and docs/predictions.md give it."""

from __future__ import annotations

import pytest

from tickcast import errors
from tickcast.server.refusals import TABLE, HttpRefusal, InBandRefusal, refusal_of

_500 = HttpRefusal(500, {"status_code": 2000, "message": "Internal server error"})
_UNAUTH = HttpRefusal(400, {"status_code": 1005, "message": "Unauthenticated"})
_LIMIT = HttpRefusal(400, {"status_code": 1007, "message": "Connection limit exceeded"})
_OVERLOADED = InBandRefusal("Server overloaded, retry later.", 1013)
_BAD_KEY = InBandRefusal("Invalid API key.", 1008)

ROWS: list[tuple[type[errors.TickcastError], str, object, object, object]] = [
    # error class, metric label, native, Socket.IO feed, predictions
    (errors.TickcastError, "error", _500, "Server overloaded", _OVERLOADED),
    (errors.Unavailable, "not_ready", _500, "Server overloaded", _OVERLOADED),
    (errors.StorageError, "storage_error", _500, "Server overloaded", _OVERLOADED),
    (errors.InvalidApiKey, "unauthenticated", _UNAUTH, "Authentication failed", _BAD_KEY),
    (errors.AuthTimeout, "auth_timeout", None, None, _BAD_KEY),
    (
        errors.NotEntitled,
        "not_entitled",
        None,
        "Pro subscription required",
        InBandRefusal("Plan does not include websocket predictions.", 1008),
    ),
    (
        errors.LimitExceeded,
        "connection_limit",
        _LIMIT,
        "Connection limit exceeded",
        InBandRefusal("Connection limit exceeded.", 1008),
    ),
]


@pytest.mark.parametrize(("cls", "metric", "native", "feed", "predictions"), ROWS)
def test_each_error_class_has_its_wire_form_in_every_dialect(
    cls: type[errors.TickcastError], metric: str, native: object, feed: object, predictions: object
) -> None:
    refusal = refusal_of(cls("why"))
    assert refusal.metric == metric
    assert refusal.native == native
    assert refusal.socketio_feed == feed
    assert refusal.predictions == predictions


def test_the_table_has_exactly_the_rows_above() -> None:
    assert set(TABLE) == {row[0] for row in ROWS}


@pytest.mark.parametrize("cls", [errors.BusError, errors.BookError, errors.ConfigError])
def test_an_error_without_a_row_takes_its_nearest_ancestors(
    cls: type[errors.TickcastError],
) -> None:
    assert refusal_of(cls("x")) is TABLE[errors.TickcastError]


def test_an_error_takes_its_own_row_before_its_parents() -> None:
    assert refusal_of(errors.AuthTimeout()).metric == "auth_timeout"
    assert refusal_of(errors.NotEntitled()).metric == "not_entitled"  # not AuthError's parent
