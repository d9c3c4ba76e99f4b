"""HTTP limits on a real server (issue 15, point 3): the key before the body (401), body size
(413), header size and count (431), header-read timeout (408), and a large publish batch that
does not stall the event loop."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from tests.integration.wire import MARKET_DEF, trade

BODY_LIMIT = 65_536


async def _raw(server: Any, head: bytes, body: bytes = b"") -> bytes:
    """Send a request on a plain socket; the whole answer, up to EOF."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head)
    try:
        if body:
            writer.write(body)
        await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed before reading everything: what we test
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()


def _post(path: str, length: int, key: str | None = None) -> bytes:
    auth = f"X-API-Key: {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_keyless_bodies_get_401_before_they_are_read(start_server: Any) -> None:
    server = await start_server(sources="none", max_body_bytes=BODY_LIMIT)
    huge = await _raw(server, _post("/api/v1/publish", 200 * 2**20))  # the body never comes
    assert huge.startswith(b"HTTP/1.1 401"), huge[:200]
    async with httpx.AsyncClient(base_url=server.http) as http:
        malformed = await http.post("/api/v1/publish", content=b"{not json")
        assert malformed.status_code == 401
        assert malformed.json() == {"status_code": 1005, "message": "Unauthenticated"}
        created = await http.post("/api/v1/users", json={"user": "u", "plan": "pro"})
        assert created.status_code == 401
        empty = await http.get("/api/v1/markets", headers={"Content-Length": "0"})
        assert empty.status_code == 200  # no body: a public endpoint stays public


async def test_bodies_over_the_limit_get_413(start_server: Any) -> None:
    server = await start_server(sources="none", max_body_bytes=BODY_LIMIT)
    key = server.admin_key
    declared = await _raw(server, _post("/api/v1/publish", BODY_LIMIT + 1, key))
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]

    async def chunks() -> Any:
        for _ in range(3):
            yield b" " * (BODY_LIMIT // 2)

    async with httpx.AsyncClient(base_url=server.http) as http:
        chunked = await http.post("/api/v1/publish", content=chunks(), headers={"X-API-Key": key})
        assert chunked.status_code == 413
        assert chunked.json()["message"] == f"Request body larger than {BODY_LIMIT} bytes"
        small = await http.post(
            "/api/v1/publish",
            json={"markets": [MARKET_DEF], "events": [trade(1)]},
            headers={"X-API-Key": key},
        )
        assert small.status_code == 200


async def test_oversized_or_too_many_headers_get_431(start_server: Any) -> None:
    server = await start_server(sources="none", max_header_bytes=8192, max_headers=50)
    big = await _raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 2**20)
    assert big.startswith(b"HTTP/1.1 431"), big[:200]
    many = b"".join(b"X-%d: 1\r\n" % n for n in range(20_000))
    lines = await _raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert lines.startswith(b"HTTP/1.1 431"), lines[:200]
    long_target = await _raw(server, b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert long_target.startswith(b"HTTP/1.1 431"), long_target[:200]
    upgrade = await _raw(
        server,
        b"GET /api/v1/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + many[:4000]
        + b"\r\n",
    )
    assert upgrade.startswith(b"HTTP/1.1 431"), upgrade[:200]
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/healthz", headers={"X-Ok": "a" * 4000})).status_code == 200


async def test_unfinished_request_heads_are_closed_after_the_timeout(start_server: Any) -> None:
    server = await start_server(sources="none", header_timeout=0.5)
    started = time.monotonic()
    answers = await asyncio.gather(
        _raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n"),  # never finished
        _raw(server, b""),  # never starts
    )
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers
    assert time.monotonic() - started < 5


async def test_a_large_batch_does_not_stall_the_loop(start_server: Any) -> None:
    """The largest batch the default limits allow (4 MiB: 1000 book snapshots of 180 levels)
    is decoded and validated off the event loop; the worst loop stall is printed for the
    closing note."""
    server = await start_server(sources="none")
    levels = [[f"{100 + n / 100:.2f}", "1.000"] for n in range(180)]
    snapshot = {"type": "book_snapshot", "market": MARKET_DEF["id"], "bids": levels, "asks": []}
    body = json.dumps({"markets": [MARKET_DEF], "events": [snapshot] * 1000}).encode()
    assert 3.5 * 2**20 < len(body) <= 4 * 2**20
    worst = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    task = asyncio.create_task(probe())
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        answer = await http.post(
            "/api/v1/publish",
            content=body,
            headers={"X-API-Key": server.admin_key, "Content-Type": "application/json"},
        )
    done.set()
    await task
    assert answer.status_code == 200, answer.text
    print(f"worst event-loop stall, {len(body)} byte batch: {worst * 1000:.0f} ms")
    assert worst < 1.0
