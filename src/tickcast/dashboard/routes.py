"""The dashboard's HTTP routes: the page, its static files and ``/dashboard/api/*`` (JSON).

Every API route but sign-in needs the session cookie; every state-changing one also needs the
CSRF header. Admin-only routes answer 403 to other keys, whatever the page shows.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tickcast.dashboard import overview as overview_view
from tickcast.dashboard import views
from tickcast.dashboard.backend import Backend
from tickcast.dashboard.recorder import Recorder
from tickcast.dashboard.sampler import Series, StreamRates, UsageSeries
from tickcast.dashboard.sessions import (
    CSRF_HEADER,
    KEY_COOKIE,
    SESSION_COOKIE,
    Session,
    SessionStore,
    csrf_ok,
    same_origin,
)
from tickcast.errors import ConfigError
from tickcast.storage.base import Principal

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Dashboard:
    backend: Backend
    sessions: SessionStore
    recorder: Recorder
    rates: StreamRates = field(default_factory=StreamRates)

    @property
    def series(self) -> Series:
        return self.recorder.series

    @property
    def usage(self) -> UsageSeries:
        return self.recorder.usage


@dataclass(slots=True)
class Call:
    request: Request
    dash: Dashboard
    session: Session
    principal: Principal

    @property
    def backend(self) -> Backend:
        return self.dash.backend


Handler = Callable[[Call], Awaitable[Response]]


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"status_code": code, "message": message}, status, SECURITY_HEADERS)


def guarded(
    dash: Dashboard, handler: Handler, *, admin: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the session and its key, check CSRF on state changes and the admin plan."""

    async def endpoint(request: Request) -> Response:
        session = dash.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return _error(401, 1005, "Not signed in or session expired")
        principal = await dash.backend.authenticate(session.key)
        if principal is None:
            dash.sessions.drop(session.token)
            return _error(401, 1005, "The key was revoked")
        if request.method not in ("GET", "HEAD"):
            origin_ok = same_origin(
                request.headers.get("origin"), request.headers.get("host"), request.url.scheme
            )
            if not origin_ok or not csrf_ok(session, request.headers.get(CSRF_HEADER)):
                return _error(403, 1007, "Missing or wrong CSRF token")
        if admin and not views.is_admin(principal):
            return _error(403, 1007, "You are missing privileges")
        try:
            return await handler(Call(request, dash, session, principal))
        except Refused as refused:
            return _error(refused.status, refused.code, refused.message)

    return endpoint


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, SECURITY_HEADERS)


async def _json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Refused(415, 1003, "Send JSON (application/json)")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Refused(400, 1003, "Invalid JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, 1003, "Expected a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise Refused(400, 1003, f"'{name}' must be a non-empty string")
    return value


def _session_cookies(response: Response, session: Session | None, secure: bool) -> None:
    if session is None:
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        response.delete_cookie(KEY_COOKIE, path="/api/v1/ws")
        return
    max_age = max(1, int(session.expires_at - time.time()))
    common: dict[str, Any] = {
        "max_age": max_age,
        "httponly": True,
        "samesite": "strict",
        "secure": secure,
    }
    response.set_cookie(SESSION_COOKIE, session.token, path="/dashboard", **common)
    response.set_cookie(KEY_COOKIE, session.key, path="/api/v1/ws", **common)


def session_info(session: Session, principal: Principal) -> dict[str, Any]:
    return views.me(principal) | {"csrf": session.csrf, "expires_at": session.expires_at}


def auth_routes(dash: Dashboard) -> list[BaseRoute]:
    async def sign_in(request: Request) -> Response:
        if not same_origin(
            request.headers.get("origin"), request.headers.get("host"), request.url.scheme
        ):
            return _error(403, 1007, "Cross-origin sign-in refused")
        try:
            key = _text(await _json_body(request), "key")
        except Refused as refused:
            return _error(refused.status, refused.code, refused.message)
        principal = await dash.backend.authenticate(key)
        if principal is None or key is None:
            return _error(401, 1005, "Unknown or revoked key")
        session = dash.sessions.create(key)
        response = ok(session_info(session, principal))
        _session_cookies(response, session, request.url.scheme == "https")
        return response

    async def current(call: Call) -> Response:
        return ok(session_info(call.session, call.principal))

    async def sign_out(call: Call) -> Response:
        call.dash.sessions.drop(call.session.token)
        response = Response(status_code=204, headers=SECURITY_HEADERS)
        _session_cookies(response, None, False)
        return response

    return [
        Route("/dashboard/api/session", sign_in, methods=["POST"]),
        Route("/dashboard/api/session", guarded(dash, current), methods=["GET"]),
        Route("/dashboard/api/session", guarded(dash, sign_out), methods=["DELETE"]),
    ]


def page_routes(dash: Dashboard) -> list[BaseRoute]:
    async def overview(call: Call) -> Response:
        return ok(overview_view.overview(call.backend, call.dash.recorder, call.principal))

    async def connections(call: Call) -> Response:
        return ok(views.visible_connections(call.backend, call.dash.recorder.lags, call.principal))

    async def close_connection(call: Call) -> Response:
        connection = call.backend.connections.get(call.request.path_params["id"])
        admin = views.is_admin(call.principal)
        if connection is None or not (admin or connection.principal.user == call.principal.user):
            raise Refused(404, 1001, "Not found")
        await connection.close(1008, "closed by operator", retry=False)
        return Response(status_code=204, headers=SECURITY_HEADERS)

    async def streams(call: Call) -> Response:
        return ok(await views.streams(call.backend, call.dash.rates))

    async def keys(call: Call) -> Response:
        return ok(await views.keys(call.backend, call.dash.usage, call.principal))

    async def usage_csv(call: Call) -> Response:
        await views.keys(call.backend, call.dash.usage, call.principal)  # a fresh sample
        records = await call.backend.store.list_keys(
            None if views.is_admin(call.principal) else call.principal.user
        )
        visible = None if views.is_admin(call.principal) else {r.key_id for r in records}
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(call.dash.usage.csv_rows(visible))
        headers = SECURITY_HEADERS | {"Content-Disposition": 'attachment; filename="usage.csv"'}
        return Response(out.getvalue(), media_type="text/csv", headers=headers)

    async def models(call: Call) -> Response:
        service = getattr(call.request.app.state, "predictions", None)
        return ok(await views.models(service, call.principal))

    return [
        Route("/dashboard/api/overview", guarded(dash, overview)),
        Route("/dashboard/api/connections", guarded(dash, connections)),
        Route(
            "/dashboard/api/connections/{id}", guarded(dash, close_connection), methods=["DELETE"]
        ),
        Route("/dashboard/api/streams", guarded(dash, streams)),
        Route("/dashboard/api/keys", guarded(dash, keys)),
        Route("/dashboard/api/usage.csv", guarded(dash, usage_csv)),
        Route("/dashboard/api/models", guarded(dash, models)),
        *admin_routes(dash),
    ]


def admin_routes(dash: Dashboard) -> list[BaseRoute]:
    async def create_key(call: Call) -> Response:
        body = await _json_body(call.request)
        user, plan = _text(body, "user"), _text(body, "plan", required=False)
        prefix = _text(body, "prefix", required=False) or "tc_live_"
        store = call.backend.store
        try:
            if plan is not None and await store.get_user(str(user)) is None:
                await store.create_user(str(user), plan)
            key, record = await store.create_key(user=str(user), prefix=prefix, plan=None)
        except ConfigError as error:
            raise Refused(400, 1003, error.message) from None
        return ok({"key": key, "key_id": record.key_id, "user": record.user}, 201)

    async def revoke_key(call: Call) -> Response:
        if not await call.backend.store.revoke_key(call.request.path_params["id"]):
            raise Refused(404, 1001, "Not found")
        return Response(status_code=204, headers=SECURITY_HEADERS)

    async def set_plan(call: Call) -> Response:
        plan = _text(await _json_body(call.request), "plan")
        try:
            user = await call.backend.store.set_user_plan(
                call.request.path_params["name"], str(plan)
            )
        except ConfigError as error:
            raise Refused(400, 1003, error.message) from None
        return ok({"name": user.name, "plan": user.plan})

    return [
        Route("/dashboard/api/keys", guarded(dash, create_key, admin=True), methods=["POST"]),
        Route(
            "/dashboard/api/keys/{id}", guarded(dash, revoke_key, admin=True), methods=["DELETE"]
        ),
        Route(
            "/dashboard/api/users/{name}/plan", guarded(dash, set_plan, admin=True), methods=["PUT"]
        ),
    ]


def static_routes() -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    return [
        Route("/dashboard", index),
        Route("/dashboard/", index),
        Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
