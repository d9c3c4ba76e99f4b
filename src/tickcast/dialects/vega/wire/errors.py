"""Error lines of the data-node (README §2.6 and §7). Each is one line, sent as one text frame
(or one NDJSON line), after which the connection is dropped without a WebSocket close frame."""

from __future__ import annotations

from tickcast.dialects.vega.wire.jsonpb import dumps

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
