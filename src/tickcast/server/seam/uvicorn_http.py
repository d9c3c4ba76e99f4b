"""uvicorn's httptools HTTP protocol with bounds on the request head (docs/errors.md).

uvicorn's own protocol accepts any number of headers of any size (an 8 MiB header and 20,000
header lines were answered 200) and waits forever for an unfinished request head. This subclass:

* counts the bytes of the request line and headers: over ``max_header_bytes`` → 431;
* counts header lines: over ``max_headers`` → 431;
* gives a client ``header_timeout`` seconds, from the connection (or the first byte of the next
  request on a kept-alive connection), to complete the head → 408, then close.

WebSocket handshakes are parsed here first, so the same bounds apply to every endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tickcast.config import ServerConfig

logger = logging.getLogger("tickcast.server")

LINGER_S = 2.0
"""How long a refused connection keeps reading (and discarding) before it is closed."""
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class HeadRefused(Exception):
    """Raised from a parser callback: the head broke a bound (the status says which)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LimitedHttpProtocol(HttpToolsProtocol):
    max_header_bytes = 16_384
    max_headers = 100
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._header_count = 0
        self._in_head = True
        self._raw_head = 0
        """Bytes received while the head was unfinished (a header still being sent is not
        seen by the callbacks until it ends)."""
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- the head timer ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._refuse(408, "Request head not received in time")

    # -- parsing -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """uvicorn's, except that a bound broken in a parser callback gets its own status
        (uvicorn answers every parser error with 400), each logged as one line."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._raw_head += len(data)
        try:
            self.parser.feed_data(data)
            if self._in_head and self._raw_head > self.max_header_bytes:
                raise HeadRefused(431, f"Request head larger than {self.max_header_bytes} bytes")
        except HeadRefused as refused:
            self._refuse(refused.status, refused.message)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, HeadRefused):
                self._refuse(cause.status, cause.message)
                return
            self._cancel_head_timer()
            self._refused = True
            logger.warning("refused HTTP request from %s: 400 %s", _peer(self.client), error)
            self.send_400_response("Invalid HTTP request received.")

    def handle_websocket_upgrade(self) -> None:
        """uvicorn's upgrade, then this protocol lets go of its parser, as uvicorn's own
        ``connection_lost`` does: the parser holds this protocol's bound callbacks, a cycle
        that kept every upgraded connection's HTTP protocol, head and scope alive until the
        next garbage collection (hundreds of handshakes apart under ``app/run.py``'s
        thresholds), a peak that stays in the allocator (docs/performance.md, idle memory)."""
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._header_count = 0
        self._in_head = True
        self._raw_head = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            raise HeadRefused(431, f"More than {self.max_headers} request headers")
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def _count(self, nbytes: int) -> None:
        self._head_bytes += nbytes
        if self._head_bytes > self.max_header_bytes:
            raise HeadRefused(431, f"Request head larger than {self.max_header_bytes} bytes")

    def _refuse(self, status: int, message: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._cancel_head_timer()
        logger.warning("refused HTTP request from %s: %d %s", _peer(self.client), status, message)
        body = f'{{"status_code":1003,"message":"{message}"}}'.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
        )
        # Lingering close: closing now, with the client's unread bytes in the socket, would
        # reset the connection and lose the answer. Shut down our side, discard what still
        # arrives (data_received ignores it), and close when the client does or after LINGER_S.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"


def http_protocol(config: ServerConfig) -> type[LimitedHttpProtocol]:
    """The protocol class for uvicorn's ``http`` option, with the configured bounds."""
    return type(
        "TickcastHttpProtocol",
        (LimitedHttpProtocol,),
        {
            "max_header_bytes": config.max_header_bytes,
            "max_headers": config.max_headers,
            "header_timeout": config.header_timeout,
        },
    )
