"""Error and warning bodies: ``{"error":{"type","message"}}`` (protocols §1.7 and §7).

The dialect raises classes of :mod:`tickcast.errors` (each below is one of them, marked as a
Coin Metrics error by :class:`CmError`); the server renders every refusal through the refusal
table (``server/refusals.py``), whose Coin Metrics column is made of the :class:`CmWire` cells
defined here. On a stream the body is sent in-band and followed by close 1008 (the official
client then stops instead of reconnecting); over REST it is the body of ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import orjson

from tickcast import errors

CLOSE_POLICY = 1008
"""Close code after a fatal in-band error (policy violation)."""

FALLING_BEHIND_MESSAGE = (
    "Your connection is falling behind and messages are being queued for delivery to you. "
    "Your queue is now over 60% full. You will be disconnected when the queue is full."
)
STALL_MESSAGE = "The client was reading too slowly and was disconnected by the server."
UNAUTHORIZED_MESSAGE = "Requested resource requires authorization."
WRONG_CREDENTIALS_MESSAGE = "Supplied credentials are not valid."
UNAVAILABLE_MESSAGE = "The server is starting or shutting down; retry later."


@dataclass(frozen=True, slots=True)
class CmWire:
    """One cell of the refusal table's Coin Metrics column.

    ``type`` and ``status`` (the HTTP status of a REST answer) are fixed per error class; the
    message is ``message`` when the cell fixes it, else the error's own. ``in_band``: on a
    stream, the body is sent on the accepted WebSocket, then close 1008 with ``type`` as
    reason; otherwise the handshake is refused (a close before the upgrade: HTTP 403; the
    client retries).
    """

    type: str
    status: int
    message: str | None = None
    in_band: bool = True

    def text(self, error: errors.TickcastError) -> str:
        return self.message if self.message is not None else error.message

    def body(self, error: errors.TickcastError) -> bytes:
        return orjson.dumps({"error": {"type": self.type, "message": self.text(error)}})


UNAUTHORIZED = CmWire("unauthorized", 401, UNAUTHORIZED_MESSAGE)
WRONG_CREDENTIALS = CmWire("wrong_credentials", 401, WRONG_CREDENTIALS_MESSAGE)
FORBIDDEN = CmWire("forbidden", 403)
BAD_PARAMETER = CmWire("bad_parameter", 400)
URI_TOO_LONG = CmWire("uri_too_long", 414)
NOT_FOUND = CmWire("not_found", 404)
TOO_MANY_CONNECTIONS = CmWire("too_many_connections", 429)
TOO_MANY_REQUESTS = CmWire("too_many_requests", 429)
UNAVAILABLE = CmWire("unavailable", 503, UNAVAILABLE_MESSAGE, in_band=False)
STALL = CmWire("stall", 400, STALL_MESSAGE)


class CmError(errors.TickcastError):
    """Marks the ``tickcast.errors`` classes the dialect raises while parsing, so its own code
    can catch them as one family. ``wire`` is the class's cell of the refusal table (tested
    equal there); ``type``, ``status`` and ``body()`` read it, for the dialect's own callers."""

    wire: ClassVar[CmWire] = BAD_PARAMETER

    @property
    def type(self) -> str:
        return self.wire.type

    @property
    def status(self) -> int:
        return self.wire.status

    def body(self) -> bytes:
        return self.wire.body(self)


class Unauthorized(CmError, errors.MissingApiKey):
    wire = UNAUTHORIZED


class WrongCredentials(CmError, errors.InvalidApiKey):
    wire = WRONG_CREDENTIALS


class Forbidden(CmError, errors.NotEntitled):
    wire = FORBIDDEN


class BadParameter(CmError, errors.BadParameter):
    wire = BAD_PARAMETER


class UriTooLong(CmError, errors.UriTooLong):
    wire = URI_TOO_LONG


class NotFound(CmError, errors.UnknownStream):
    wire = NOT_FOUND


class TooManyConnections(CmError, errors.LimitExceeded):
    wire = TOO_MANY_CONNECTIONS


class TooManyRequests(CmError, errors.RateLimited):
    wire = TOO_MANY_REQUESTS


class Unavailable(CmError, errors.Unavailable):
    wire = UNAVAILABLE


class Stall(CmError, errors.SlowConsumer):
    wire = STALL


def unauthorized() -> CmError:
    return Unauthorized(UNAUTHORIZED_MESSAGE)


def wrong_credentials() -> CmError:
    return WrongCredentials(WRONG_CREDENTIALS_MESSAGE)


def forbidden(message: str) -> CmError:
    return Forbidden(message)


def bad_parameter(name: str, detail: str) -> CmError:
    return BadParameter(f"Bad parameter '{name}'. {detail}")


def unsupported(name: str, noun: str, value: str) -> CmError:
    """``Bad parameter 'markets'. Market 'x' is not supported.``"""
    return bad_parameter(name, f"{noun} '{value}' is not supported.")


def uri_too_long(limit: int) -> CmError:
    return UriTooLong(f"URI must not be greater than {limit} symbols.")


def not_found(message: str = "Requested endpoint or request path is not found.") -> CmError:
    return NotFound(message)


def too_many_connections(limit: int) -> CmError:
    return TooManyConnections(f"Maximum of {limit} parallel WebSocket connections reached.")


def too_many_requests(limit: int) -> CmError:
    return TooManyRequests(f"Requests rate limit of {limit} per minute exceeded.")


def unavailable() -> CmError:
    return Unavailable(UNAVAILABLE_MESSAGE)


def stall() -> CmError:
    return Stall(STALL_MESSAGE)


def falling_behind_frame() -> bytes:
    """The slow-consumer warning (no ``cm_sequence_id``)."""
    return orjson.dumps({"warning": {"type": "falling_behind", "message": FALLING_BEHIND_MESSAGE}})
