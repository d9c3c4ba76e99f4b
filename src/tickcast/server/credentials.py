"""Where an API key may come from on a WebSocket or HTTP request (DESIGN §4).

In order: ``X-API-Key`` header, ``Authorization: Bearer``, the ``id`` cookie (or a bare cookie
value, as the generated Kraken SDK sends it), the ``api_key`` query parameter.
"""

from __future__ import annotations

from collections.abc import Mapping


def api_key_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = headers.get("cookie", "")
    if cookie:
        bare = None
        for part in cookie.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == "id" and value:
                return value
            if not sep and name:
                bare = name
        if bare:
            return bare
    key = query.get("api_key")
    return key.strip() if key else None
