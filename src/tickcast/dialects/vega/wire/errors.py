"""Error lines of the data-node (README §2.6 and §7). Each is one line, sent as one text frame
(or one NDJSON line), after which the connection is dropped without a WebSocket close frame.

A refusal is raised as a class of :mod:`tickcast.errors`; the refusal table
(``server/refusals.py``) gives each class its :class:`VegaWire` cell, built from the lines here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tickcast.dialects.vega.wire.jsonpb import dumps
from tickcast.errors import TickcastError

INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16

CODE_NAMES = {
    INVALID_ARGUMENT: "InvalidArgument",
    NOT_FOUND: "NotFound",
    PERMISSION_DENIED: "PermissionDenied",
    RESOURCE_EXHAUSTED: "ResourceExhausted",
    INTERNAL: "Internal",
    UNAVAILABLE: "Unavailable",
    UNAUTHENTICATED: "Unauthenticated",
}
HTTP_STATUS = {
    INVALID_ARGUMENT: 400,
    NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    UNAUTHENTICATED: 401,
}
"""The grpc-gateway's HTTP status of each gRPC code (a refused chunked request)."""
ERROR_DETAIL = "type.googleapis.com/vega.ErrorDetail"
DETAIL_INVALID = 10000
"""vega.ErrorDetail code of invalid filters (the data-node's ErrInvalidFilter family)."""
DETAIL_NOT_FOUND = 10002
"""vega.ErrorDetail code tickcast uses for unknown ids (documented choice)."""
DETAIL_STREAM_FAILURE = 10010


def gateway_error(code: int, message: str) -> bytes:
    """A gateway error before the stream exists: ``{"code":3,"message":...}``, no wrapper."""
    return dumps({"code": code, "message": message})


def not_found_path() -> bytes:
    """An unknown ``/api/v2/stream/...`` path."""
    return gateway_error(NOT_FOUND, "Not Found")


def stream_error(code: int, *, detail_code: int = 0, detail: str = "", inner: str = "") -> bytes:
    """``{"error":{"code","message":"<Code> error","details":[vega.ErrorDetail]}}``."""
    status: dict[str, object] = {"code": code, "message": f"{CODE_NAMES[code]} error"}
    if detail_code:
        status["details"] = [
            {"@type": ERROR_DETAIL, "code": detail_code, "message": detail, "inner": inner}
        ]
    return dumps({"error": status})


def invalid_argument(detail: str, inner: str) -> bytes:
    return stream_error(INVALID_ARGUMENT, detail_code=DETAIL_INVALID, detail=detail, inner=inner)


def not_found(detail: str, inner: str) -> bytes:
    return stream_error(NOT_FOUND, detail_code=DETAIL_NOT_FOUND, detail=detail, inner=inner)


def too_many_streams() -> bytes:
    """More than the per-address stream limit (the node's exact message, no details)."""
    return dumps(
        {
            "error": {
                "code": RESOURCE_EXHAUSTED,
                "message": "client reached max subscription allowed",
            }
        }
    )


def stream_failure() -> bytes:
    """A slow consumer or a server shutdown: Internal, "internal stream failure"."""
    return stream_error(
        INTERNAL,
        detail_code=DETAIL_STREAM_FAILURE,
        detail="internal stream failure",
        inner="channel closed",
    )


def unauthenticated() -> bytes:
    return stream_error(UNAUTHENTICATED)


def permission_denied() -> bytes:
    return stream_error(PERMISSION_DENIED)


@dataclass(frozen=True, slots=True)
class VegaWire:
    """One cell of the refusal table's Vega column: the gRPC ``code`` and how the error line is
    made from the error (``line``). Over WebSocket the line is one text frame, then the TCP
    connection is dropped; a refused chunked request answers ``http_status`` with the line."""

    code: int
    line: Callable[[TickcastError], bytes]

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def _bare(error: TickcastError) -> bytes:
    return gateway_error(INVALID_ARGUMENT, error.message)


def _invalid(error: TickcastError) -> bytes:
    return invalid_argument(error.message, error.inner)


def _not_found(error: TickcastError) -> bytes:
    return not_found(error.message, error.inner)


UNKNOWN_PATH = VegaWire(NOT_FOUND, lambda error: not_found_path())
MALFORMED = VegaWire(INVALID_ARGUMENT, _bare)
INVALID = VegaWire(INVALID_ARGUMENT, _invalid)
UNKNOWN_ID = VegaWire(NOT_FOUND, _not_found)
TOO_MANY_STREAMS = VegaWire(RESOURCE_EXHAUSTED, lambda error: too_many_streams())
STREAM_FAILURE = VegaWire(INTERNAL, lambda error: stream_failure())
UNAUTHENTICATED_WIRE = VegaWire(UNAUTHENTICATED, lambda error: unauthenticated())
PERMISSION_DENIED_WIRE = VegaWire(PERMISSION_DENIED, lambda error: permission_denied())
