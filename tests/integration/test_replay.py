"""Replay of real recorded Binance data through a real server, checked against the capture."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer, ServerFactory
from tests.integration.capture import (
    SPOT,
    SPOT_MARKET,
    USDM,
    USDM_MARKET,
    decimal_book,
    decimal_trade,
    read_spot,
)
from websockets.asyncio.client import connect

from tickcast.client import ChecksumMismatch, Client, Gap, LocalBook, Reset, Snapshot, Update
from tickcast.sources.replay import ReplaySource

TRADES, BOOK, QUOTES = (f"{kind}:{SPOT_MARKET}" for kind in ("trades", "book", "quotes"))
BIG_OUTBOX = 16 * 1024 * 1024
"""speed=max publishes in bursts; a roomy outbox keeps every client live (no conflation)."""


async def replay_server(start_server: ServerFactory, spec: str) -> RunningServer:
    return await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)


async def market(server: RunningServer, market_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        markets = (await http.get("/api/v1/markets")).json()
    found: dict[str, Any] = next(m for m in markets if m["id"] == market_id)
    return found


async def collect(
    server: RunningServer, streams: list[str], until: dict[str, int], timeout: float = 20
) -> dict[str, list[Any]]:
    """SDK messages per stream until each stream in ``until`` has that many Snapshot/Update."""
    key = await server.key("pro")
    seen: dict[str, list[Any]] = {stream: [] for stream in streams}
    seen["other"] = []
    async with Client(server.ws, key) as client, asyncio.timeout(timeout):
        async for message in client.subscribe(streams):
            stream = getattr(message, "stream", "other")
            seen[stream if stream in seen else "other"].append(message)
            if all(
                sum(isinstance(m, Snapshot | Update) for m in seen[s]) >= n
                for s, n in until.items()
            ):
                break
    return seen


def book_steps(messages: list[Any]) -> list[LocalBook]:
    """The client's book after every book message past the empty initial snapshot; each
    message's checksum verified by the SDK's LocalBook. The capture's snapshot replaces the
    empty initial one: the SDK announces it with one Reset."""
    book = LocalBook(BOOK)
    states = []
    assert [type(m) for m in messages if not isinstance(m, Snapshot | Update)] == [Reset]
    for message in messages:
        if isinstance(message, Reset):
            continue
        assert isinstance(message, Snapshot | Update), message
        if isinstance(message, Snapshot) and message.seq == 0:
            continue
        assert message.checksum is not None
        assert book.apply(message) is None, f"checksum mismatch at seq {message.seq}"
        states.append(book.copy())
    return states


def as_decimal(book: LocalBook) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return decimal_book({"bids": book.bids(), "asks": book.asks()})


async def test_replay_spot_capture_streams_the_recorded_trades_and_book(
    start_server: ServerFactory,
) -> None:
    """replay:<spot capture>,speed=max,wait=3: the trades equal the capture's exactly and in
    order; the book equals the capture's rebuilt book after every step, checksums holding."""
    capture = read_spot()
    server = await replay_server(start_server, f"replay:{SPOT},speed=max,wait=3")
    info = await market(server, SPOT_MARKET)
    assert (info["price_decimals"], info["size_decimals"], info["tick"]) == (2, 6, "0.01")
    until = {TRADES: len(capture.trades), BOOK: len(capture.books) + 1, QUOTES: 1}
    seen = await collect(server, [TRADES, BOOK, QUOTES], until)
    assert not [m for m in seen["other"] if not isinstance(m, Snapshot | Update)]
    trades = [m for m in seen[TRADES] if isinstance(m, Update)]
    assert [m.seq for m in trades] == list(range(1, len(capture.trades) + 1))
    assert [decimal_trade(m.data) for m in trades] == capture.trades
    assert all(len(m.data["price"].split(".")[1]) == 2 for m in trades)
    states = book_steps(seen[BOOK])
    assert len(states) == len(capture.books)
    for step, (state, expected) in enumerate(zip(states, capture.books, strict=True)):
        assert as_decimal(state) == expected, f"book differs at step {step}"
    assert not any(isinstance(m, ChecksumMismatch | Gap) for m in seen[BOOK] + seen[TRADES])


async def test_replay_usdm_capture_follows_pu_continuity(start_server: ServerFactory) -> None:
    """A USD-M futures capture (pu continuity), served beside a spot replay, replays as
    binance-BTCUSDT-future with a book whose checksums hold at every step and its trades in
    order."""
    lines = [
        json.loads(line.partition(" ")[2]) for line in gzip.open(USDM, "rt") if "@trade" in line
    ]
    stream = f"book:{USDM_MARKET}"
    trades = f"trades:{USDM_MARKET}"
    server = await start_server(
        sources=(f"replay:{SPOT},speed=max", f"replay:{USDM},speed=max,wait=2"),
        outbox_bytes=BIG_OUTBOX,
    )
    info = await market(server, USDM_MARKET)
    assert (info["price_decimals"], info["size_decimals"], info["kind"]) == (1, 3, "future")
    assert (await market(server, SPOT_MARKET))["kind"] == "spot"  # two sources, one server
    source = server.node.sources[1]
    assert isinstance(source, ReplaySource)
    seen = await collect(server, [trades, stream], {trades: len(lines)})
    assert [m.data["id"] for m in seen[trades] if isinstance(m, Update)] == [
        str(line["data"]["t"]) for line in lines
    ]
    book = LocalBook(stream)
    for message in seen[stream]:
        if isinstance(message, Snapshot | Update):
            assert book.apply(message) is None
    assert len(book) > 1000 and source.breaks == []


async def test_replay_reports_a_depth_gap(
    start_server: ServerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A depth update cut out of the capture is reported: a warning naming the lost ids and a
    reset to an empty book on the wire (subscribed with ?streams=), never a silently wrong book."""
    capture = read_spot()
    cut = capture.depth_lines[5]
    with gzip.open(SPOT, "rt") as original:
        kept = [line for number, line in enumerate(original) if number != cut]
    broken = tmp_path / "broken.gz"
    with gzip.open(broken, "wt") as out:
        out.writelines(kept)
    caplog.set_level(logging.WARNING, logger="tickcast.sources.replay")
    server = await replay_server(start_server, f"replay:{broken},speed=max,wait=1")
    key = await server.key("pro")
    frames = []
    async with connect(f"{server.ws}?streams={BOOK}&api_key={key}") as ws:
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await ws.recv())
                frames.append(frame)
                if frame.get("type") == "Snapshot" and frame["seq"] > 1:
                    break
    reset = frames[-1]
    assert reset["data"] == {"asks": [], "bids": []} and reset["reset"] is True
    updates = [f for f in frames if f.get("type") == "Update"]
    assert len(updates) == 5  # the five updates before the cut, then the reset
    source = server.node.sources[0]
    assert isinstance(source, ReplaySource)
    lost = capture.lines[cut][1]["data"]
    assert [(b.expected, b.got) for b in source.breaks] == [(lost["U"], lost["u"] + 1)]
    assert any("depth updates lost" in r.getMessage() for r in caplog.records)


def test_serve_refuses_a_market_from_two_sources(tmp_path: Path) -> None:
    """`tickcast serve --source simulator --source replay:<spot capture>` exits 2 naming the
    market both would publish."""
    result = subprocess.run(
        [sys.executable, "-m", "tickcast.cli.main", "serve", "--port", "0", "--data-dir",
         str(tmp_path), "--source", "simulator", "--source", f"replay:{SPOT}", "--speed", "max"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        "market 'binance-btc-usdt-spot' comes from both 'simulator' and 'replay:" in result.stderr
    )
    assert ",speed=max'" in result.stderr  # the --speed flag went into the replay spec
