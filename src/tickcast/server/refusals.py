"""Connection refusals: one table from each ``tickcast.errors`` class to each dialect's wire form.

Endpoints raise (or catch) the error classes of :mod:`tickcast.errors` while admitting a
connection and call :func:`refusal_of` for what to send; nothing else decides a refusal's shape.
Columns:

* ``native`` (``/api/v1/ws``): an HTTP status and a JSON body ``{"status_code", "message"}``,
  answered instead of the upgrade (docs/protocol.md);
* ``socketio_feed`` (``/api-ws``): the message of the namespace's ``CONNECT_ERROR``;
* ``predictions`` (``/ws``): the in-band ``{"auth": false, "message"}`` frame, then a close with
  this code and the message as reason;
* ``metric``: the ``reason`` label of ``tickcast_refusals``.

A ``None`` cell: that dialect never refuses a connection for that reason (e.g. the native
endpoint has no feature entitlement at connect). The Coin Metrics and Vega dialects keep their
own, richer vocabularies (``dialects/coinmetrics/wire/errors.py``,
``dialects/vega/wire/errors.py``).
The table is tested cell by cell (tests/unit/server/test_refusals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.dialects.predictions.wire import protocol as predictions
from tickcast.dialects.socketio_feed.wire import protocol as socketio_feed
from tickcast.errors import (
    AuthTimeout,
    InvalidApiKey,
    LimitExceeded,
    NotEntitled,
    StorageError,
    TickcastError,
    Unavailable,
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


_OVERLOADED = InBandRefusal(predictions.SERVER_OVERLOADED, 1013)
_BAD_KEY = InBandRefusal(predictions.INVALID_API_KEY, predictions.POLICY_VIOLATION)

TABLE: dict[type[TickcastError], Refusal] = {
    TickcastError: Refusal(
        "error", HttpRefusal(500, NOT_READY), socketio_feed.SERVER_OVERLOADED, _OVERLOADED
    ),
    Unavailable: Refusal(
        "not_ready", HttpRefusal(500, NOT_READY), socketio_feed.SERVER_OVERLOADED, _OVERLOADED
    ),
    StorageError: Refusal(
        "storage_error", HttpRefusal(500, NOT_READY), socketio_feed.SERVER_OVERLOADED, _OVERLOADED
    ),
    InvalidApiKey: Refusal(
        "unauthenticated",
        HttpRefusal(400, UNAUTHENTICATED),
        socketio_feed.AUTHENTICATION_FAILED,
        _BAD_KEY,
    ),
    AuthTimeout: Refusal("auth_timeout", None, None, _BAD_KEY),
    NotEntitled: Refusal(
        "not_entitled",
        None,
        socketio_feed.PRO_REQUIRED,
        InBandRefusal(predictions.PLAN_REFUSED, predictions.POLICY_VIOLATION),
    ),
    LimitExceeded: Refusal(
        "connection_limit",
        HttpRefusal(400, CONNECTION_LIMIT),
        socketio_feed.CONNECTION_LIMIT_EXCEEDED,
        InBandRefusal(predictions.CONNECTION_LIMIT, predictions.POLICY_VIOLATION),
    ),
}


def refusal_of(error: TickcastError) -> Refusal:
    """The row of ``error``'s class, or of its nearest ancestor in the table."""
    for cls in type(error).__mro__:
        row = TABLE.get(cls)
        if row is not None:
            return row
    raise AssertionError("TickcastError is in the table")  # pragma: no cover
