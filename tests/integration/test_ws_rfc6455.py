"""RFC 6455 sections 5-7, as a table, against every WebSocket endpoint: the native endpoint's
own frame parser (``server/ws_lean.py``) answers exactly as the websockets library does on
``/ws``, a Coin Metrics stream and a Vega stream (issue 15, point 6)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from tests.integration.wire import client_frame, raw_websocket, read_frame

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def close(code: int, reason: bytes = b"") -> bytes:
    return client_frame(CLOSE, struct.pack("!H", code) + reason)


def unmasked(opcode: int, payload: bytes) -> bytes:
    return bytes((0x80 | opcode, len(payload))) + payload


SNOWMAN = "☃".encode()  # three bytes

# (case, frames the client sends, what the server answers: ("close", code) or ("pong", data))
CASES: list[tuple[str, bytes, tuple[str, Any]]] = [
    ("ping is answered with its payload", client_frame(PING, b"hi"), ("pong", b"hi")),
    (
        "ping between fragments",
        client_frame(BINARY, b"a", fin=False) + client_frame(PING, b"mid"),
        ("pong", b"mid"),
    ),
    ("close 1000 is echoed", close(1000, b"bye"), ("close", 1000)),
    ("close 3000 is echoed", close(3000), ("close", 3000)),
    ("close 4999 is echoed", close(4999), ("close", 4999)),
    ("empty close is echoed", client_frame(CLOSE, b""), ("close", None)),
    ("close code 999", close(999), ("close", 1002)),
    ("close code 1004", close(1004), ("close", 1002)),
    ("close code 1005", close(1005), ("close", 1002)),
    ("close code 1006", close(1006), ("close", 1002)),
    ("close code 1015", close(1015), ("close", 1002)),
    ("close code 2999", close(2999), ("close", 1002)),
    ("close code 5000", close(5000), ("close", 1002)),
    ("1-byte close payload", client_frame(CLOSE, b"\x03"), ("close", 1002)),
    ("close reason not UTF-8", close(1000, b"\xff\xfe"), ("close", 1007)),
    ("control frame over 125 bytes", client_frame(PING, b"x" * 126), ("close", 1002)),
    ("fragmented control frame", client_frame(PING, b"x", fin=False), ("close", 1002)),
    ("unmasked client frame", unmasked(BINARY, b"x"), ("close", 1002)),
    ("reserved bit RSV1", client_frame(BINARY, b"x", rsv=4), ("close", 1002)),
    ("reserved bit RSV3", client_frame(BINARY, b"x", rsv=1), ("close", 1002)),
    ("reserved data opcode 0x3", client_frame(0x3, b"x"), ("close", 1002)),
    ("reserved control opcode 0xB", client_frame(0xB, b"x"), ("close", 1002)),
    ("continuation without a start", client_frame(CONTINUATION, b"x"), ("close", 1002)),
    (
        "new message inside a fragmented one",
        client_frame(BINARY, b"a", fin=False) + client_frame(BINARY, b"b"),
        ("close", 1002),
    ),
    ("text not UTF-8", client_frame(TEXT, b"\xc3\x28"), ("close", 1007)),
    (
        "UTF-8 cut across fragments, never completed",
        client_frame(TEXT, SNOWMAN[:2], fin=False) + client_frame(CONTINUATION, b"x"),
        ("close", 1007),
    ),
]

ENDPOINTS = ["native", "predictions", "coinmetrics", "vega"]


def _path(endpoint: str, key: str) -> tuple[str, dict[str, str]]:
    return {
        "native": ("/api/v1/ws", {"X-API-Key": key}),
        "predictions": ("/ws", {}),
        "coinmetrics": (
            f"/v4/timeseries-stream/market-trades?api_key={key}&markets=binance-btc-usdt-spot",
            {},
        ),
        "vega": ("/api/v2/stream/trades", {}),
    }[endpoint]


async def _answer(server: Any, endpoint: str, frames: bytes) -> tuple[str, Any]:
    path, headers = _path(endpoint, server.admin_key)
    reader, writer, head = await raw_websocket(server.host, server.port, path, headers)
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        writer.write(frames)
        async with asyncio.timeout(10):
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == PONG and payload != b"tc":  # b"tc": the server's own keepalive
                    return ("pong", payload)
                if opcode == CLOSE:
                    return ("close", struct.unpack("!H", payload[:2])[0] if payload else None)
    finally:
        writer.close()


@pytest.fixture
async def server(start_server: Any) -> Any:
    return await start_server(sources="simulator:rate=5", ping_interval=60.0, idle_timeout=90.0)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_rfc6455_table(server: Any, endpoint: str) -> None:
    wrong = []
    for case, frames, expected in CASES:
        answer = await _answer(server, endpoint, frames)
        if answer != expected:
            wrong.append((case, answer, expected))
    assert not wrong, wrong
