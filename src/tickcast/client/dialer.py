"""Opening the WebSocket: URL normalisation, the API key, refusals, backoff and jitter."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from tickcast.client.errors import Disconnected, rejection_error

__all__ = ["Dialer", "ws_url"]

logger = logging.getLogger("tickcast.client")

WS_PATH = "/api/v1/ws"
MAX_FRAME = 16 * 2**20


def ws_url(url: str) -> str:
    """``url`` with a ws/wss scheme and ``/api/v1/ws`` appended when it has no path."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


class Dialer:
    """Opens connections to one server with one key; retries with exponential backoff.

    Refusals retrying cannot fix (``InvalidApiKey``, ``LimitExceeded``, ``NotEntitled``,
    ``Rejected``) are raised at once, never retried.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        ping_interval: float | None,
        open_timeout: float,
        min_backoff: float,
        max_backoff: float,
        max_attempts: int | None,
    ) -> None:
        self.url = ws_url(url)
        self._key = key
        self.ping_interval = ping_interval
        self.open_timeout = open_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts

    async def open(self) -> ClientConnection:
        """One attempt; transport errors (``OSError``, websockets errors) propagate."""
        try:
            return await connect(
                self.url,
                additional_headers={"X-API-Key": self._key},
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                max_size=MAX_FRAME,
            )
        except InvalidStatus as error:
            fatal = rejection_error(error.response.status_code, error.response.body)
            if fatal is not None:
                raise fatal from None
            raise

    async def reconnect(self, *, penalty: int = 0) -> tuple[ClientConnection, int]:
        """Retry until connected; return the connection and the number of tries it took.

        ``penalty`` raises the first delay (connections that dropped before any frame arrived).
        """
        for attempt in itertools.count(1):
            if self.max_attempts is not None and attempt > self.max_attempts:
                break
            await asyncio.sleep(self.backoff(attempt + penalty))
            try:
                return await self.open(), attempt
            except (OSError, TimeoutError, WebSocketException) as error:
                logger.info("reconnect attempt %d to %s failed: %r", attempt, self.url, error)
        raise Disconnected(f"gave up reconnecting after {self.max_attempts} attempts")

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half of the ceiling fixed, half random."""
        ceiling = min(self.max_backoff, self.min_backoff * 2.0 ** min(attempt - 1, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)
