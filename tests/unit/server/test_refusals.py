"""The refusal table (server/refusals.py), cell by cell: each error class in each dialect's wire
form, as docs/protocol.md, docs/dialects/socketio-feed.md, docs/predictions.md,
docs/dialects/coinmetrics.md and docs/dialects/vega.md give it.

The Coin Metrics and Vega cells are checked by what they put on the wire for a sample error
(``message`` "why", ``inner`` "because"): the exact body, type, status, gRPC code and line.
"""

from __future__ import annotations

import pytest

from tickcast import errors
from tickcast.dialects.coinmetrics.wire import errors as cm
from tickcast.server.refusals import TABLE, HttpRefusal, InBandRefusal, refusal_of

_500 = HttpRefusal(500, {"status_code": 2000, "message": "Internal server error"})
_UNAUTH = HttpRefusal(400, {"status_code": 1005, "message": "Unauthenticated"})
_LIMIT = HttpRefusal(400, {"status_code": 1007, "message": "Connection limit exceeded"})
_OVERLOADED = InBandRefusal("Server overloaded, retry later.", 1013)
_BAD_KEY = InBandRefusal("Invalid API key.", 1008)
_PLAN = InBandRefusal("Plan does not include websocket predictions.", 1008)
_CONNECTIONS = InBandRefusal("Connection limit exceeded.", 1008)

E = type[errors.TickcastError]

ROWS: list[tuple[E, str, object, object, object]] = [
    # error class, metric label, native, Socket.IO feed, predictions
    (errors.TickcastError, "error", _500, "Server overloaded", _OVERLOADED),
    (errors.Unavailable, "not_ready", _500, "Server overloaded", _OVERLOADED),
    (errors.StorageError, "storage_error", _500, "Server overloaded", _OVERLOADED),
    (errors.InvalidApiKey, "unauthenticated", _UNAUTH, "Authentication failed", _BAD_KEY),
    (errors.MissingApiKey, "unauthenticated", _UNAUTH, "Authentication failed", _BAD_KEY),
    (errors.AuthTimeout, "auth_timeout", None, None, _BAD_KEY),
    (errors.NotEntitled, "not_entitled", None, "Pro subscription required", _PLAN),
    (errors.LimitExceeded, "connection_limit", _LIMIT, "Connection limit exceeded", _CONNECTIONS),
    (errors.RateLimited, "rate_limited", None, None, None),
    (errors.TooManyStreams, "stream_limit", None, None, None),
    (errors.BadParameter, "bad_parameter", None, None, None),
    (errors.MalformedParameter, "bad_parameter", None, None, None),
    (errors.UriTooLong, "uri_too_long", None, None, None),
    (errors.UnknownStream, "unknown_stream", None, None, None),
    (errors.UnknownId, "unknown_id", None, None, None),
    (errors.SlowConsumer, "slow_consumer", None, None, None),
]

_UNAUTHORIZED = "Requested resource requires authorization."
_WRONG = "Supplied credentials are not valid."
_UNAVAILABLE = "The server is starting or shutting down; retry later."
_STALL = "The client was reading too slowly and was disconnected by the server."

CM: list[tuple[E, tuple[str, int, str, bool] | None]] = [
    # error class, Coin Metrics (type, HTTP status, message, in-band on a stream)
    (errors.TickcastError, None),
    (errors.Unavailable, ("unavailable", 503, _UNAVAILABLE, False)),
    (errors.StorageError, None),
    (errors.InvalidApiKey, ("wrong_credentials", 401, _WRONG, True)),
    (errors.MissingApiKey, ("unauthorized", 401, _UNAUTHORIZED, True)),
    (errors.AuthTimeout, None),
    (errors.NotEntitled, ("forbidden", 403, "why", True)),
    (errors.LimitExceeded, ("too_many_connections", 429, "why", True)),
    (errors.RateLimited, ("too_many_requests", 429, "why", True)),
    (errors.TooManyStreams, None),
    (errors.BadParameter, ("bad_parameter", 400, "why", True)),
    (errors.MalformedParameter, ("bad_parameter", 400, "why", True)),
    (errors.UriTooLong, ("uri_too_long", 414, "why", True)),
    (errors.UnknownStream, ("not_found", 404, "why", True)),
    (errors.UnknownId, None),
    (errors.SlowConsumer, ("stall", 400, _STALL, True)),
]

_DETAIL = '"@type":"type.googleapis.com/vega.ErrorDetail"'
_FAILURE = (
    '{"error":{"code":13,"message":"Internal error","details":[{'
    + _DETAIL
    + ',"code":10010,"message":"internal stream failure","inner":"channel closed"}]}}'
)
_EXHAUSTED = '{"error":{"code":8,"message":"client reached max subscription allowed"}}'

VEGA: list[tuple[E, tuple[int, int, str] | None]] = [
    # error class, Vega (gRPC code, HTTP status of a chunked refusal, the line)
    (errors.TickcastError, None),
    (errors.Unavailable, (13, 500, _FAILURE)),
    (errors.StorageError, None),
    (errors.InvalidApiKey, (16, 401, '{"error":{"code":16,"message":"Unauthenticated error"}}')),
    (errors.MissingApiKey, (16, 401, '{"error":{"code":16,"message":"Unauthenticated error"}}')),
    (errors.AuthTimeout, None),
    (errors.NotEntitled, (7, 403, '{"error":{"code":7,"message":"PermissionDenied error"}}')),
    (errors.LimitExceeded, (8, 429, _EXHAUSTED)),
    (errors.RateLimited, None),
    (errors.TooManyStreams, (8, 429, _EXHAUSTED)),
    (
        errors.BadParameter,
        (
            3,
            400,
            '{"error":{"code":3,"message":"InvalidArgument error","details":[{'
            + _DETAIL
            + ',"code":10000,"message":"why","inner":"because"}]}}',
        ),
    ),
    (errors.MalformedParameter, (3, 400, '{"code":3,"message":"why"}')),
    (errors.UriTooLong, None),
    (errors.UnknownStream, (5, 404, '{"code":5,"message":"Not Found"}')),
    (
        errors.UnknownId,
        (
            5,
            404,
            '{"error":{"code":5,"message":"NotFound error","details":[{'
            + _DETAIL
            + ',"code":10002,"message":"why","inner":"because"}]}}',
        ),
    ),
    (errors.SlowConsumer, (13, 500, _FAILURE)),
]


@pytest.mark.parametrize(("cls", "metric", "native", "feed", "predictions"), ROWS)
def test_each_error_class_has_its_wire_form_in_every_dialect(
    cls: E, metric: str, native: object, feed: object, predictions: object
) -> None:
    refusal = refusal_of(cls("why"))
    assert refusal.metric == metric
    assert refusal.native == native
    assert refusal.socketio_feed == feed
    assert refusal.predictions == predictions


@pytest.mark.parametrize(("cls", "expected"), CM)
def test_the_coinmetrics_column(cls: E, expected: tuple[str, int, str, bool] | None) -> None:
    error = cls("why", inner="because")
    wire = refusal_of(error).coinmetrics
    if expected is None:
        assert wire is None
        return
    assert wire is not None
    kind, status, message, in_band = expected
    assert (wire.type, wire.status, wire.in_band) == (kind, status, in_band)
    assert wire.body(error) == (
        b'{"error":{"type":"' + kind.encode() + b'","message":"' + message.encode() + b'"}}'
    )


@pytest.mark.parametrize(("cls", "expected"), VEGA)
def test_the_vega_column(cls: E, expected: tuple[int, int, str] | None) -> None:
    error = cls("why", inner="because")
    wire = refusal_of(error).vega
    if expected is None:
        assert wire is None
        return
    assert wire is not None
    assert (wire.code, wire.http_status, wire.line(error).decode()) == expected


def test_the_table_has_exactly_the_rows_above() -> None:
    assert set(TABLE) == {row[0] for row in ROWS} == {row[0] for row in CM}
    assert set(TABLE) == {row[0] for row in VEGA}


@pytest.mark.parametrize("cls", [errors.BusError, errors.BookError, errors.ConfigError])
def test_an_error_without_a_row_takes_its_nearest_ancestors(cls: E) -> None:
    assert refusal_of(cls("x")) is TABLE[errors.TickcastError]


def test_an_error_takes_its_own_row_before_its_parents() -> None:
    assert refusal_of(errors.AuthTimeout()).metric == "auth_timeout"
    assert refusal_of(errors.NotEntitled()).metric == "not_entitled"  # not AuthError's parent
    assert refusal_of(errors.UnknownId()).metric == "unknown_id"
    assert refusal_of(errors.TooManyStreams()).metric == "stream_limit"


@pytest.mark.parametrize("cls", cm.CmError.__subclasses__())
def test_each_coinmetrics_error_class_reads_its_own_cell(cls: type[cm.CmError]) -> None:
    """The dialect's errors (raised while parsing) are ``tickcast.errors`` classes whose row's
    Coin Metrics cell is the one their ``type``, ``status`` and ``body()`` read."""
    error = cls("why")
    assert refusal_of(error).coinmetrics is cls.wire
    assert (error.type, error.status) == (cls.wire.type, cls.wire.status)
    assert error.body() == cls.wire.body(error)
