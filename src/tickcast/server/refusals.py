"""Connection refusals: one table from each ``tickcast.errors`` class to each dialect's wire form.

Endpoints raise (or catch) the error classes of :mod:`tickcast.errors` while admitting a
connection and call :func:`refusal_of` for what to send; nothing else decides a refusal's shape.
Columns:

* ``native`` (``/api/v1/ws``): an HTTP status and a JSON body ``{"status_code", "message"}``,
  answered instead of the upgrade (docs/protocol.md);
* ``socketio_feed`` (``/api-ws``): the message of the namespace's ``CONNECT_ERROR``;
* ``predictions`` (``/ws``): the in-band ``{"auth": false, "message"}`` frame, then a close with
  this code and the message as reason;
* ``coinmetrics`` (``/v4``): ``{"error":{"type","message"}}``, in-band on the accepted stream
  then close 1008, or the body of an HTTP status over REST (``dialects/coinmetrics/wire/errors.py``:
  :class:`CmWire`; the message is the cell's, or the error's own);
* ``vega`` (``/api/v2/stream``): the grpc-gateway error line, one text frame before the TCP
  connection is dropped, or the body of the gRPC code's HTTP status on a chunked request
  (``dialects/vega/wire/errors.py``: :class:`VegaWire`);
* ``metric``: the ``reason`` label of ``tickcast_refusals`` (the same in every dialect).

A ``None`` cell: that dialect never refuses a connection for that reason (e.g. the native
endpoint has no feature entitlement at connect); such an error is not caught there.
The table is tested cell by cell (tests/unit/server/test_refusals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.dialects.coinmetrics.wire import errors as cm
from tickcast.dialects.coinmetrics.wire.errors import CmWire
from tickcast.dialects.predictions.wire import protocol as predictions
from tickcast.dialects.socketio_feed.wire import protocol as socketio_feed
from tickcast.dialects.vega.wire import errors as vega
from tickcast.dialects.vega.wire.errors import VegaWire
from tickcast.errors import (
    AuthTimeout,
    BadParameter,
    InvalidApiKey,
    LimitExceeded,
    MalformedParameter,
    MissingApiKey,
    NotEntitled,
    RateLimited,
    SlowConsumer,
    StorageError,
    TickcastError,
    TooManyStreams,
    Unavailable,
    UnknownId,
    UnknownStream,
    UriTooLong,
)

UNAUTHENTICATED: dict[str, object] = {"status_code": 1005, "message": "Unauthenticated"}
CONNECTION_LIMIT: dict[str, object] = {"status_code": 1007, "message": "Connection limit exceeded"}
NOT_READY: dict[str, object] = {"status_code": 2000, "message": "Internal server error"}


@dataclass(frozen=True, slots=True)
class HttpRefusal:
    """An HTTP answer instead of the WebSocket upgrade."""

    status: int
    body: dict[str, object]


@dataclass(frozen=True, slots=True)
class InBandRefusal:
    """An in-band message, then a close frame with ``close_code`` (and the message as reason)."""

    message: str
    close_code: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """One row of the table: the wire form of one error class in every dialect."""

    metric: str
    native: HttpRefusal | None
    socketio_feed: str | None
    predictions: InBandRefusal | None
    coinmetrics: CmWire | None = None
    vega: VegaWire | None = None


_OVERLOADED = InBandRefusal(predictions.SERVER_OVERLOADED, 1013)
_BAD_KEY = InBandRefusal(predictions.INVALID_API_KEY, predictions.POLICY_VIOLATION)
_500 = HttpRefusal(500, NOT_READY)
_UNAUTHENTICATED = HttpRefusal(400, UNAUTHENTICATED)
_FEED_OVERLOADED = socketio_feed.SERVER_OVERLOADED

TABLE: dict[type[TickcastError], Refusal] = {
    # class: Refusal(metric, native, Socket.IO feed, predictions, Coin Metrics, Vega)
    TickcastError: Refusal("error", _500, _FEED_OVERLOADED, _OVERLOADED),
    Unavailable: Refusal(
        "not_ready", _500, _FEED_OVERLOADED, _OVERLOADED, cm.UNAVAILABLE, vega.STREAM_FAILURE
    ),
    StorageError: Refusal("storage_error", _500, _FEED_OVERLOADED, _OVERLOADED),
    InvalidApiKey: Refusal(
        "unauthenticated",
        _UNAUTHENTICATED,
        socketio_feed.AUTHENTICATION_FAILED,
        _BAD_KEY,
        cm.WRONG_CREDENTIALS,
        vega.UNAUTHENTICATED_WIRE,
    ),
    MissingApiKey: Refusal(
        "unauthenticated",
        _UNAUTHENTICATED,
        socketio_feed.AUTHENTICATION_FAILED,
        _BAD_KEY,
        cm.UNAUTHORIZED,
        vega.UNAUTHENTICATED_WIRE,
    ),
    AuthTimeout: Refusal("auth_timeout", None, None, _BAD_KEY),
    NotEntitled: Refusal(
        "not_entitled",
        None,
        socketio_feed.PRO_REQUIRED,
        InBandRefusal(predictions.PLAN_REFUSED, predictions.POLICY_VIOLATION),
        cm.FORBIDDEN,
        vega.PERMISSION_DENIED_WIRE,
    ),
    LimitExceeded: Refusal(
        "connection_limit",
        HttpRefusal(400, CONNECTION_LIMIT),
        socketio_feed.CONNECTION_LIMIT_EXCEEDED,
        InBandRefusal(predictions.CONNECTION_LIMIT, predictions.POLICY_VIOLATION),
        cm.TOO_MANY_CONNECTIONS,
        vega.TOO_MANY_STREAMS,
    ),
    RateLimited: Refusal("rate_limited", None, None, None, cm.TOO_MANY_REQUESTS),
    TooManyStreams: Refusal("stream_limit", None, None, None, None, vega.TOO_MANY_STREAMS),
    BadParameter: Refusal("bad_parameter", None, None, None, cm.BAD_PARAMETER, vega.INVALID),
    MalformedParameter: Refusal(
        "bad_parameter", None, None, None, cm.BAD_PARAMETER, vega.MALFORMED
    ),
    UriTooLong: Refusal("uri_too_long", None, None, None, cm.URI_TOO_LONG),
    UnknownStream: Refusal("unknown_stream", None, None, None, cm.NOT_FOUND, vega.UNKNOWN_PATH),
    UnknownId: Refusal("unknown_id", None, None, None, None, vega.UNKNOWN_ID),
    SlowConsumer: Refusal("slow_consumer", None, None, None, cm.STALL, vega.STREAM_FAILURE),
}


def refusal_of(error: TickcastError) -> Refusal:
    """The row of ``error``'s class, or of its nearest ancestor in the table."""
    for cls in type(error).__mro__:
        row = TABLE.get(cls)
        if row is not None:
            return row
    raise AssertionError("TickcastError is in the table")  # pragma: no cover
