"""HTTP request bodies: authenticated before they are read, and bounded (docs/errors.md).

``BodyGuard`` is an ASGI middleware in front of the whole app:

* a control-plane request that carries a body (``/api/v1/...`` with a ``Content-Length`` or a
  chunked body) is authenticated first: without a valid key it gets 401 and its body is never
  read (FastAPI would otherwise read and parse the body before the key dependency runs);
* a body over the limit gets 413: at once from its ``Content-Length``, or as soon as a chunked
  body passes the limit. The limit is ``max_body_bytes``, except for model uploads and training
  (``/api/v1/models``), which have their own (``MODELS_MAX_BODY_BYTES``).

The request head (header size and count, header-read timeout) is bounded by the HTTP protocol
(``server/seam/uvicorn_http.py``).
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickcast.server.credentials import api_key_from
from tickcast.server.node import Node

CONTROL_PREFIX = "/api/v1/"
MODELS_PREFIX = "/api/v1/models"
MODELS_MAX_BODY_BYTES = 256 * 1024 * 1024
"""Model uploads and training data (``dialects/predictions/endpoint/models.py`` checks the
same bound)."""


class BodyTooLarge(HTTPException):
    """A chunked body went past the limit while the app was reading it (an HTTPException, so
    that FastAPI's body reading passes it on and the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, {"status_code": 1003, "message": _too_large_message(limit)})
        self.limit = limit


def _refusal(status: int, code: int, message: str) -> JSONResponse:
    """A refusal before the body was read: the connection closes after it (its unread body
    is not drained)."""
    body = {"status_code": code, "message": message}
    return JSONResponse(body, status_code=status, headers={"connection": "close"})


def _too_large_message(limit: int) -> str:
    return f"Request body larger than {limit} bytes"


def too_large(limit: int) -> JSONResponse:
    return _refusal(413, 1003, _too_large_message(limit))


class BodyGuard:
    def __init__(self, app: ASGIApp, *, node: Node) -> None:
        self._app = app
        self._node = node
        self._max = node.config.max_body_bytes

    def limit_for(self, path: str) -> int:
        return MODELS_MAX_BODY_BYTES if path.startswith(MODELS_PREFIX) else self._max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if (length is None or length == "0") and not chunked:  # no body
            await self._app(scope, receive, send)
            return
        if scope["path"].startswith(CONTROL_PREFIX):
            key = api_key_from(headers, QueryParams(scope["query_string"]))
            if await self._node.authenticate(key) is None:
                await _refusal(401, 1005, "Unauthenticated")(scope, receive, send)
                return
        limit = self.limit_for(scope["path"])
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large(limit)(scope, receive, send)
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await too_large(limit)(scope, receive, send)
