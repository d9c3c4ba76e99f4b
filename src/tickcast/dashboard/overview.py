"""The Overview page's JSON: nodes, sources and connectors with their health, connections per
dialect, and the time series of rates, gaps and resyncs (docs/dashboard.md, "Overview")."""

from __future__ import annotations

import time
from typing import Any

from tickcast.dashboard.backend import Backend
from tickcast.dashboard.recorder import Recorder
from tickcast.dashboard.views import is_admin, redact_url
from tickcast.storage.base import Principal

WINDOW_S = 300.0
""""Gaps and resyncs in the last minutes": the totals over this window."""

PRIVATE = ("messages", "bytes", "drops", "refusals", "connections", "slow", "encode_gaps")
"""Series about other users' traffic, blanked for non-admin keys (market-wide ones stay)."""


def node_info(backend: Backend, now: float) -> dict[str, Any]:
    config = backend.config
    return {
        "id": backend.cluster.node_id,
        "role": getattr(config, "role", "all"),
        "uptime_s": round(now - backend.started_at, 1),
        "bus": redact_url(str(getattr(config, "bus", "memory"))),
        "store": redact_url(str(getattr(config, "store", "")) or "sqlite (data dir)"),
        "ready": backend.ready,
        "markets": len(list(backend.catalog)),
    }


def cluster_nodes(backend: Backend) -> list[dict[str, Any]]:
    """Live nodes sharing this node's Redis bus (from the connection leases, ``bus.leases``):
    id and client connections per node, summed over the limit pools. Only this node's role is
    known (leases carry no role); with an in-memory bus the list is this node alone."""
    own = backend.cluster.node_id
    counts: dict[str, int] = {}
    for counter in backend.cluster.counters.values():
        live_nodes = getattr(counter, "live_nodes", None)
        for node, connections in (live_nodes() if live_nodes is not None else {}).items():
            counts[node] = counts.get(node, 0) + connections
    counts[own] = len(backend.connections)  # exact, every dialect (leases count limited pools)
    role = str(getattr(backend.config, "role", "all"))
    return [
        {"id": node, "role": role if node == own else None, "connections": n, "self": node == own}
        for node, n in sorted(counts.items(), key=lambda item: (item[0] != own, item[0]))
    ]


def connectors(backend: Backend) -> dict[str, dict[str, object]]:
    return {health.name: health.report() for health in backend.connectors}


def sources(backend: Backend, reports: dict[str, dict[str, object]]) -> list[dict[str, Any]]:
    """Each source with its health: a connector's own state (live/degraded/down), else running
    while the node is ready (simulators, replays and the publish API have no health of their
    own)."""
    rows = []
    for source in backend.sources:
        health = getattr(source, "health", None)
        report = reports.get(str(getattr(health, "name", ""))) if health is not None else None
        state = report["state"] if report else ("running" if backend.ready else "stopped")
        rows.append(
            {
                "name": getattr(source, "name", type(source).__name__),
                "markets": len(source.markets()),
                "health": state,
                "connector": getattr(health, "name", None),
            }
        )
    return rows


def overview(backend: Backend, recorder: Recorder, principal: Principal) -> dict[str, Any]:
    now = time.time()
    infos = recorder.sample_connections(now)
    admin = is_admin(principal)
    dialects: dict[str, int] = {}
    for info in infos if admin else []:
        dialect = str(info.get("dialect"))
        dialects[dialect] = dialects.get(dialect, 0) + 1
    series = recorder.series
    columns: dict[str, list[float | None]] = {k: list(v) for k, v in series.rates().items()}
    window = series.window_totals(WINDOW_S)
    if not admin:
        for name in PRIVATE:
            columns[name] = [None] * len(columns["t"])
            window.pop(name, None)
    reports = connectors(backend)
    return {
        "node": node_info(backend, now),
        "nodes": cluster_nodes(backend) if admin else [],
        "sources": sources(backend, reports),
        "connectors": reports,
        "dialects": dialects,
        "series": columns,
        "window": {"seconds": WINDOW_S, "totals": window},
    }
