"""The web dashboard (docs/dashboard.md): ``/dashboard`` and ``/dashboard/api/*``.

One interface: ``mount_dashboard(app, backend)`` adds the routes to a Starlette (or FastAPI) app.
The package imports neither ``tickcast.server`` nor FastAPI; what it needs of the node is the
``Backend`` protocol, so moving it onto another server layout is one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from tickcast.dashboard.backend import Backend
from tickcast.dashboard.recorder import Recorder, with_recorder
from tickcast.dashboard.routes import Dashboard, auth_routes, page_routes, static_routes
from tickcast.dashboard.sessions import DEFAULT_TTL, SessionStore

__all__ = ["Backend", "Dashboard", "dashboard_routes", "mount_dashboard"]


def dashboard_routes(dash: Dashboard) -> list[BaseRoute]:
    return [*auth_routes(dash), *page_routes(dash), *static_routes()]


def mount_dashboard(
    app: Starlette,
    backend: Backend,
    *,
    session_ttl: float = DEFAULT_TTL,
    now: Callable[[], float] = time.time,
) -> Dashboard:
    """Serve the dashboard on ``app`` (before any catch-all route the app may add later) and
    run its background recorder during the app's lifespan. The ``Dashboard`` is also kept as
    ``app.state.dashboard`` (tests move its session clock: ``dashboard.sessions.now``)."""
    dash = Dashboard(
        backend=backend,
        sessions=SessionStore(ttl=session_ttl, now=now),
        recorder=Recorder(backend),
    )
    app.router.routes.extend(dashboard_routes(dash))
    app.router.lifespan_context = with_recorder(app.router.lifespan_context, dash.recorder)
    app.state.dashboard = dash
    return dash
