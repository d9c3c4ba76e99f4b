"""Error and warning bodies: ``{"error":{"type","message"}}`` (protocols §1.7 and §7).

On a stream, a :class:`CmError` is sent in-band and followed by a close frame (the official
client then stops instead of reconnecting); over REST it is the body of ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

CLOSE_POLICY = 1008
"""Close code after a fatal in-band error (policy violation)."""

FALLING_BEHIND_MESSAGE = (
    "Your connection is falling behind and messages are being queued for delivery to you. "
    "Your queue is now over 60% full. You will be disconnected when the queue is full."
)
STALL_MESSAGE = "The client was reading too slowly and was disconnected by the server."


@dataclass(frozen=True, slots=True)
class CmError(Exception):
    """A refusal in the dialect's shape; ``status`` is the HTTP status of the REST answer."""

    type: str
    message: str
    status: int = 400

    def body(self) -> bytes:
        return orjson.dumps({"error": {"type": self.type, "message": self.message}})


def unauthorized() -> CmError:
    return CmError("unauthorized", "Requested resource requires authorization.", 401)


def wrong_credentials() -> CmError:
    return CmError("wrong_credentials", "Supplied credentials are not valid.", 401)


def forbidden(message: str) -> CmError:
    return CmError("forbidden", message, 403)


def bad_parameter(name: str, detail: str) -> CmError:
    return CmError("bad_parameter", f"Bad parameter '{name}'. {detail}", 400)


def unsupported(name: str, noun: str, value: str) -> CmError:
    """``Bad parameter 'markets'. Market 'x' is not supported.``"""
    return bad_parameter(name, f"{noun} '{value}' is not supported.")


def uri_too_long(limit: int) -> CmError:
    return CmError("uri_too_long", f"URI must not be greater than {limit} symbols.", 414)


def not_found() -> CmError:
    return CmError("not_found", "Requested endpoint or request path is not found.", 404)


def too_many_connections(limit: int) -> CmError:
    return CmError(
        "too_many_connections",
        f"Maximum of {limit} parallel WebSocket connections reached.",
        429,
    )


def too_many_requests(limit: int) -> CmError:
    return CmError("too_many_requests", f"Requests rate limit of {limit} per minute exceeded.", 429)


def unavailable() -> CmError:
    return CmError("unavailable", "The server is starting or shutting down; retry later.", 503)


def stall() -> CmError:
    return CmError("stall", STALL_MESSAGE)


def falling_behind_frame() -> bytes:
    """The slow-consumer warning (no ``cm_sequence_id``)."""
    return orjson.dumps({"warning": {"type": "falling_behind", "message": FALLING_BEHIND_MESSAGE}})
