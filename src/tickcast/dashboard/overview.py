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


def cluster_nodes(backend: Backend, recorder: Recorder, now: float) -> list[dict[str, Any]]:
    """Live nodes sharing this node's Redis bus: ids and client connections from the connection
    leases (``bus.leases``, summed over the limit pools), role and uptime from the nodes' cards
    (``presence.py``). With an in-memory bus the list is this node alone."""
    own = backend.cluster.node_id
    counts: dict[str, int] = {}
    for counter in backend.cluster.counters.values():
        live_nodes = getattr(counter, "live_nodes", None)
        for node, connections in (live_nodes() if live_nodes is not None else {}).items():
            counts[node] = counts.get(node, 0) + connections
    counts[own] = len(backend.connections)  # exact, every dialect (leases count limited pools)
    peers = recorder.presence.peers if recorder.presence is not None else {}
    rows = []
    for node in sorted(counts.keys() | peers.keys(), key=lambda n: (n != own, n)):
        card = peers.get(node, {})
        started = card.get("started_at", backend.started_at if node == own else None)
        rows.append(
            {
                "id": node,
                "role": card.get("role", node_info_role(backend) if node == own else None),
                "uptime_s": round(now - started, 1) if isinstance(started, int | float) else None,
                "connections": counts.get(node),
                "self": node == own,
            }
        )
    return rows


def node_info_role(backend: Backend) -> str:
    return str(getattr(backend.config, "role", "all"))


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
        "nodes": cluster_nodes(backend, recorder, now) if admin else [],
        "sources": sources(backend, reports),
        "connectors": reports,
        "dialects": dialects,
        "series": columns,
        "window": {"seconds": WINDOW_S, "totals": window},
    }
