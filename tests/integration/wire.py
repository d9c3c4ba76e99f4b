"""Small helpers for talking to a real server in tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

ASSETS = tuple(
    "btc eth ltc xrp bch ada dot link bnb doge uni sol matic avax atom xlm algo vet icp fil".split()
)
"""The simulator's default universe."""
MARKET = "acme-foo-usd-spot"
MARKET_DEF = {"id": MARKET, "price_decimals": 2, "size_decimals": 3}


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    result: dict[str, Any] = json.loads(message)
    return result


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first message matching ``predicate`` and everything received before it."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await recv(ws, timeout)
            if predicate(message):
                return message, seen
            seen.append(message)


def trade(n: int, price: str = "100.00") -> dict[str, Any]:
    return {
        "type": "trade",
        "market": MARKET,
        "id": f"t{n}",
        "price": price,
        "size": "1.000",
        "side": "buy" if n % 2 else "sell",
        "time": 1_767_225_600_000_000_000 + n,
    }


async def publish(base: str, key: str, events: list[dict[str, Any]]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base) as http:
        return await http.post(
            "/api/v1/publish",
            json={"markets": [MARKET_DEF], "events": events},
            headers={"X-API-Key": key},
        )
