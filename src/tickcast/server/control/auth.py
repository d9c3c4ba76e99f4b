"""Control-plane authentication: the same key forms as the WebSocket endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security

from tickcast.server.credentials import api_key_from
from tickcast.server.node import Node
from tickcast.server.openapi import KEY_COOKIE
from tickcast.server.services import services_of
from tickcast.storage.base import Principal

ADMIN_PLAN = "admin"


def node_of(request: Request) -> Node:
    return services_of(request.app).node


async def principal(
    request: Request, _: Annotated[str | None, Security(KEY_COOKIE)] = None
) -> Principal:
    key = api_key_from(request.headers, request.query_params)
    found = await node_of(request).authenticate(key)
    if found is None:
        raise HTTPException(401, {"status_code": 1005, "message": "Unauthenticated"})
    return found


async def admin(found: Annotated[Principal, Depends(principal)]) -> Principal:
    if found.plan.name != ADMIN_PLAN:
        raise HTTPException(403, {"status_code": 1007, "message": "You are missing privileges"})
    return found
