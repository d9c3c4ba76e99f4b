"""Mapping server refusals to the ``tickcast.errors`` tree, plus ``Disconnected``.

- HTTP 400 before the upgrade, body ``{"status_code": N, "message": ...}``: 1005 →
  ``InvalidApiKey``; 1007 → ``LimitExceeded`` ("Connection limit exceeded") or ``NotEntitled``
  (missing privileges). These are never retried.
- An in-band ``Error`` answering a ``Subscribe``: ``code`` → the matching exception class.
"""

from __future__ import annotations

import json

from tickcast.errors import (
    AuthError,
    InvalidApiKey,
    InvalidMessage,
    LimitExceeded,
    NotEntitled,
    ProtocolError,
    TickcastError,
    UnknownStream,
)

__all__ = ["Disconnected", "Rejected", "refusal_error", "rejection_error"]

UNAUTHENTICATED = 1005
MISSING_PRIVILEGES = 1007


class Disconnected(TickcastError):
    """The connection ended for good: the server said not to retry, or reconnecting is off."""

    code = "disconnected"

    def __init__(self, message: str, *, close_code: int | None = None, retry: bool = False) -> None:
        super().__init__(message)
        self.ws_close_code = close_code
        self.retry = retry


class Rejected(TickcastError):
    """The server refused the WebSocket upgrade for a reason that retrying will not fix."""

    code = "rejected"

    def __init__(self, message: str, *, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


_REFUSALS: dict[str, type[TickcastError]] = {
    "unknown_stream": UnknownStream,
    "not_entitled": NotEntitled,
    "subscription_limit": LimitExceeded,
    "limit_exceeded": LimitExceeded,
    "rate_limited": LimitExceeded,
    "invalid_message": InvalidMessage,
    "unauthenticated": AuthError,
    "invalid_api_key": InvalidApiKey,
}


def refusal_error(code: str, message: str) -> TickcastError:
    """The exception for an in-band ``Error`` answering one of our requests."""
    error = _REFUSALS.get(code, ProtocolError if code.startswith("invalid") else TickcastError)
    return error(message or code)


def rejection_error(status: int, body: bytes | bytearray | None) -> TickcastError | None:
    """The exception for a refused upgrade, or None when retrying may help (5xx, 429, ...)."""
    if status >= 500 or status in (408, 429):
        return None
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code, message = payload.get("status_code"), str(payload.get("message", ""))
    if code == UNAUTHENTICATED:
        return InvalidApiKey(message or "Unauthenticated")
    if code == MISSING_PRIVILEGES:
        if "limit" in message.lower():
            return LimitExceeded(message)
        return NotEntitled(message or "You are missing privileges")
    if status in (401, 403):
        return InvalidApiKey(message or f"HTTP {status}") if status == 401 else NotEntitled(message)
    return Rejected(message or f"HTTP {status}", http_status=status)
