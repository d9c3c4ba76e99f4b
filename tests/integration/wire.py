"""Small helpers for talking to a real server in tests."""

from __future__ import annotations

import asyncio
import base64
import json
import os
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


async def raw_websocket(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """A WebSocket handshake on a plain socket (no client library reads behind the test's back):
    the reader, the writer and the response head."""
    reader, writer = await asyncio.open_connection(host, port)
    nonce = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, head


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """One masked client frame, built by hand so that tests can send invalid ones too."""
    mask = os.urandom(4)
    head = bytes(((0x80 if fin else 0) | (rsv << 4) | opcode,))
    length = len(payload)
    if length < 126:
        head += bytes((0x80 | length,))
    elif length < 65_536:
        head += bytes((0x80 | 126,)) + length.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + length.to_bytes(8, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One (unmasked) server frame: its opcode and payload."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(length)
