"""Dashboard sign-in sessions: an API key exchanged for an opaque session token.

The token travels only in an HttpOnly, SameSite=Strict cookie; every state-changing request must
also carry the session's CSRF token in the ``X-CSRF-Token`` header (a page of another origin can
neither read it nor set the header without a CORS preflight, which the server never grants).
Sessions live in the memory of the node that issued them and expire ``ttl`` seconds after sign-in.
The key is kept with the session (server memory only) so that every request re-authenticates it:
a revoked key or a changed plan takes effect on the next request.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "tc_dash"
KEY_COOKIE = "id"
"""The native endpoint's cookie form of the key (docs/protocol.md), scoped to ``/api/v1/ws`` so
that the market view's browser WebSocket authenticates without the key ever reaching page JS."""
CSRF_HEADER = "x-csrf-token"
DEFAULT_TTL = 8 * 3600.0
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    key: str
    expires_at: float


class SessionStore:
    """Sessions by token; ``now`` is wall time in seconds (a test passes its own)."""

    def __init__(self, *, ttl: float = DEFAULT_TTL, now: Callable[[], float]) -> None:
        self.ttl = ttl
        self.now = now
        """The clock (replaceable: the browser test of expiry moves it forward)."""
        self._sessions: dict[str, Session] = {}

    def create(self, key: str) -> Session:
        self._expire()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
            del self._sessions[oldest.token]
        session = Session(
            token=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(24),
            key=key,
            expires_at=self.now() + self.ttl,
        )
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token``, or None (unknown or expired; expired ones are dropped)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires_at <= self.now():
            del self._sessions[token]
            return None
        return session

    def drop(self, token: str) -> None:
        self._sessions.pop(token, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = self.now()
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]


def csrf_ok(session: Session, header: str | None) -> bool:
    """Constant-time comparison of the request's CSRF header with the session's token."""
    return header is not None and hmac.compare_digest(session.csrf, header)


def same_origin(origin: str | None, host: str | None, scheme: str) -> bool:
    """A browser's ``Origin`` (absent on same-origin GETs of old browsers) names this server."""
    if origin is None:
        return True
    if host is None:
        return False
    return origin in (f"{scheme}://{host}", f"http://{host}", f"https://{host}")
