"""REST companions of the Vega dialect: how clients find market, party and candle ids."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.wire import rest
from tickcast.dialects.vega.wire.ids import is_hex_id
from tickcast.server import openapi
from tickcast.server.services import services_of

router = APIRouter(
    prefix="/api/v2", tags=["vega"], generate_unique_id_function=openapi.operation_id
)


def _feed(request: Request) -> VegaFeed:
    return services_of(request.app).service(VegaFeed)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(rest.error(code, message), status_code=status)


@router.get("/markets", name="vega_list_markets")
async def list_markets(request: Request) -> JSONResponse:
    """Every market with its 64-hex Vega id, decimals and the tickcast id (instrument name)."""
    return JSONResponse(rest.markets(_feed(request).state.by_hex.values()))


@router.get("/parties", name="vega_list_parties")
async def list_parties(request: Request) -> JSONResponse:
    """The simulated parties (and any party seen in published events)."""
    return JSONResponse(rest.parties(_feed(request).state.parties))


@router.get("/candle/intervals", name="vega_candle_intervals")
async def candle_intervals(
    request: Request, market_id: str = Query("", alias="marketId")
) -> JSONResponse:
    """Candle ids of a market: ``trades_candle_<interval>_<marketId>``."""
    if not is_hex_id(market_id):
        return _error(400, 3, "invalid market id")
    if market_id not in _feed(request).state.by_hex:
        return _error(404, 5, "market not found")
    return JSONResponse(rest.candle_intervals(market_id))


@router.get("/market/depth/{market_id}/latest", name="vega_latest_depth")
async def latest_depth(request: Request, market_id: str) -> JSONResponse:
    """The whole book of a market and the sequence number its depth updates continue from."""
    state = _feed(request).state
    if not is_hex_id(market_id):
        return _error(400, 3, "invalid market id")
    market = state.by_hex.get(market_id)
    if market is None:
        return _error(404, 5, "market not found")
    bids, asks = state.book(market.id).top()
    sequence = state.depth.last_sequence(market.id)
    depth = rest.latest_depth(market, bids, asks, sequence, state.order_count(market.id))
    return JSONResponse(depth)
