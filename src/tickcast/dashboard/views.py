"""The JSON each dashboard page polls, built from the backend (no I/O of its own but the store)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tickcast.dashboard.backend import Backend
from tickcast.dashboard.lag import ConnectionLags
from tickcast.dashboard.sampler import StreamRates, UsageSeries
from tickcast.storage.base import Principal

ADMIN_PLAN = "admin"


def is_admin(principal: Principal) -> bool:
    return principal.plan.name == ADMIN_PLAN


def redact_url(url: str) -> str:
    """A bus or store URL without its credentials (``redis://:secret@h`` → ``redis://h``)."""
    if "://" not in url:
        return url or "default"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def me(principal: Principal) -> dict[str, Any]:
    return {
        "user": principal.user,
        "key_id": principal.key_id,
        "plan": principal.plan.name,
        "admin": is_admin(principal),
        "test": principal.test,
    }


def visible_connections(
    backend: Backend, lags: ConnectionLags, principal: Principal
) -> list[dict[str, object]]:
    """Every connection for an admin, the caller's user's otherwise; each with its ``lag_s``."""
    admin = is_admin(principal)
    now = time.time()
    rows = []
    for connection in list(backend.connections.values()):
        if admin or connection.principal.user == principal.user:
            info = connection.info()
            rows.append(info | {"lag_s": lags.lag(now, info)})
    return rows


async def streams(backend: Backend, rates: StreamRates) -> list[dict[str, Any]]:
    now = time.time()
    subscribers: dict[str, int] = {}
    for connection in list(backend.connections.values()):
        subscriptions = connection.info().get("subscriptions", [])
        for stream in subscriptions if isinstance(subscriptions, list) else []:
            subscribers[str(stream)] = subscribers.get(str(stream), 0) + 1
    history_size = int(getattr(backend.config, "history_size", 0) or 0)
    result = []
    for stream in sorted(backend.bus.streams()):
        position = await backend.bus.position(stream)
        seen = rates.observe(stream, position.epoch, position.seq, now)
        depth = min(position.seq, history_size) if history_size else position.seq
        result.append(
            {
                "stream": stream,
                "epoch": position.epoch,
                "seq": position.seq,
                "rate": round(seen.rate, 2),
                "subscribers": subscribers.get(stream, 0),
                "history": depth,
                "last_event_age_s": round(now - seen.changed_at, 1),
            }
        )
    return result


async def keys(backend: Backend, usage: UsageSeries, principal: Principal) -> dict[str, Any]:
    """Keys, users, plans and usage series; a non-admin sees only its own user's keys."""
    store = backend.store
    admin = is_admin(principal)
    records = await store.list_keys(None if admin else principal.user)
    now = time.time()
    if usage.due(now):
        usage.add(now, await store.usage(None))
    visible = None if admin else {r.key_id for r in records}
    users = await store.list_users() if admin else []
    return {
        "keys": [
            {
                "key_id": r.key_id,
                "user": r.user,
                "prefix": r.prefix,
                "plan": r.plan,
                "created_ns": r.created_ns,
                "revoked": r.revoked,
                "test": r.test,
            }
            for r in records
        ],
        "users": [{"name": u.name, "plan": u.plan, "created_ns": u.created_ns} for u in users],
        "plans": sorted(backend.plans) if admin else [],
        "usage": usage.for_keys(visible),
    }


async def models(service: Any, principal: Principal) -> dict[str, Any]:
    """Models (newest versions) with metrics, live attachments and ``/ws`` connections."""
    if service is None:
        return {"enabled": False, "models": [], "live": [], "connections": []}
    admin = is_admin(principal)
    metas = await service.registry.repository.list(None if admin else principal.user)
    live = [
        a.info() for a in service.live.attachments.values() if admin or a.ref.user == principal.user
    ]
    connections = [
        c.info()
        for c in service.connections.values()
        if admin or c.principal.user == principal.user
    ]
    return {
        "enabled": True,
        "models": [m.as_dict() for m in metas],
        "live": live,
        "connections": connections,
    }
