"""The Coin Metrics REST surface: auth, rate limit, paging and rendering around the queries.

Every answer is JSON; refusals are ``{"error":{"type","message"}}`` with 400, 401, 403, 404,
414 or 429 (429 always with an integer ``X-RateLimit-Reset``: the official client sleeps that
many seconds and retries). A 200 carries ``X-RateLimit-Limit``, ``X-RateLimit-Reset`` and, while
it is not zero, ``X-RateLimit-Remaining`` (the client sleeps and re-fetches on a ``0``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tickcast.dialects.coinmetrics.endpoint.catalog import REFERENCE, catalog
from tickcast.dialects.coinmetrics.endpoint.history import TIMESERIES, Context, Found
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.coinmetrics.endpoint.store import STORE_TIMESERIES, stored
from tickcast.dialects.coinmetrics.endpoint.store_catalog import with_stored_spans
from tickcast.dialects.coinmetrics.wire import errors, query, rest
from tickcast.dialects.coinmetrics.wire.errors import CmError
from tickcast.errors import TickcastError
from tickcast.server.refusals import refusal_of

NDJSON = "application/x-ndjson"
Handler = Callable[[Context, str], Found]


def error_response(error: TickcastError, headers: dict[str, str] | None = None) -> Response:
    """``error`` as the refusal table's Coin Metrics cell gives it: its status and body."""
    wire = refusal_of(error).coinmetrics
    if wire is None:
        raise error
    return Response(wire.body(error), wire.status, headers=headers, media_type="application/json")


async def _chunks(rows: list[dict[str, object]]) -> AsyncIterator[bytes]:
    for chunk in rest.ndjson(rows):
        yield chunk


async def serve(request: Request, service: CoinMetricsService, handler: Handler) -> Response:
    node = service.node
    if not node.ready:
        return error_response(errors.unavailable())
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    if len(request.scope.get("raw_path", b"")) + len(raw_query) + 1 > query.MAX_URI:
        return error_response(errors.uri_too_long(query.MAX_URI))
    try:
        params = query.parse_query(raw_query)
        principal = await service.authenticate(params.get("api_key"))
    except CmError as error:
        return error_response(error)
    limit = principal.plan.requests_per_minute
    allowed, remaining, reset = service.rate.take(principal.key_id, limit)
    headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(reset)}
    if not allowed:
        headers["Retry-After"] = str(reset)
        return error_response(errors.too_many_requests(limit), headers)
    if remaining > 0:
        headers["X-RateLimit-Remaining"] = str(remaining)
    context = Context(
        params, node.catalog, node.recorder, principal.plan, service.visible_to(principal)
    )
    name = request.path_params.get("name", "")
    if handler is _timeseries and name in STORE_TIMESERIES and node.history is not None:
        return await stored(request, context, name, node.history, headers)  # history hook
    try:
        if handler in (_catalog, _catalog_all) and node.history is not None:  # history hook
            context = await with_stored_spans(context, name, node.history)
        found = handler(context, request.path_params.get("name", ""))
        pages = rest.paging(params, default_from=found.default_from)
        items = rest.limit_each(found.items, found.limit, from_start=pages.from_start)
        rows, token = rest.page(items, found.order, pages)
    except CmError as error:
        return error_response(error, headers)
    if pages.stream:
        return StreamingResponse(_chunks(rows), media_type=NDJSON, headers=headers)
    url = str(request.url.replace(query=""))
    body = rest.json_page(rows, token, url, params)
    return Response(body, media_type="application/json", headers=headers)


def _timeseries(ctx: Context, name: str) -> Found:
    function = TIMESERIES.get(name)
    if function is None:
        raise errors.not_found()
    return function(ctx)


def _reference(ctx: Context, name: str) -> Found:
    function = REFERENCE.get(name)
    if function is None:
        raise errors.not_found()
    return function(ctx)


def _catalog(ctx: Context, name: str) -> Found:
    return catalog(ctx, name, everything=False)


def _catalog_all(ctx: Context, name: str) -> Found:
    return catalog(ctx, name, everything=True)


def rest_routes(service: CoinMetricsService) -> list[BaseRoute]:
    def endpoint(handler: Handler) -> Callable[[Request], object]:
        async def answer(request: Request) -> Response:
            return await serve(request, service, handler)

        return answer

    return [
        Route("/timeseries/{name}", endpoint(_timeseries)),
        Route("/reference-data/{name}", endpoint(_reference)),
        Route("/catalog-v2/{name}", endpoint(_catalog)),
        Route("/catalog-all-v2/{name}", endpoint(_catalog_all)),
    ]
