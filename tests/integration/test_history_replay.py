"""``--source history:...``: a backtest sees byte-identical native frames to what live clients
got (issue 17, point 5): record a live session, replay the store on another server, compare."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.wire import recv
from websockets.asyncio.client import connect

from tickcast.errors import ConfigError
from tickcast.history.source import parse_history_spec
from tickcast.model import BookDelta, BookSnapshot, Event, Market, Side, Trade
from tickcast.model.markets import MarketKind

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 4)
TRADES, BOOK = f"trades:{MARKET.id}", f"book:{MARKET.id}"
DAY_NS = 86_400_000_000_000
T0 = (time.time_ns() // DAY_NS - 1) * DAY_NS
COUNT = 150


def events(n: int) -> list[Event]:
    trade = Trade(MARKET.id, f"t{n}", 10_000 + n % 9, 1 + n, Side.BUY if n % 2 else Side.SELL,
                  T0 + n * 1_000_000, buyer="b1" if n % 5 == 0 else None)  # fmt: skip
    if n == 0:
        book: Event = BookSnapshot(MARKET.id, ((9_999, 5), (9_998, 7)), ((10_001, 3),), T0)
    else:
        book = BookDelta(MARKET.id, ((9_999 - n % 4, n % 3),), ((10_001 + n % 5, n),), T0 + n)
    return [trade, book]


async def session(ws_url: str, key: str, ready: asyncio.Event | None = None) -> list[str]:
    """Subscribe to both streams, then every frame until both reach seq COUNT (raw text);
    ``ready`` is set once subscribed (the Subscribed frame and the book's Snapshot are in)."""
    frames: list[str] = []
    done: set[str] = set()
    async with connect(f"{ws_url}?streams={TRADES},{BOOK}",
                       additional_headers={"X-API-Key": key}) as ws:  # fmt: skip
        frames.append(json.dumps(await recv(ws)))  # Subscribed, normalised below
        if ready is not None:
            frames.append(str(await ws.recv()))  # the book's (empty) Snapshot
            ready.set()
        while done != {TRADES, BOOK}:
            text = await ws.recv()
            assert isinstance(text, str)
            frames.append(text)
            message = json.loads(text)
            if message.get("seq") == COUNT:
                done.add(message["stream"])
    return frames


def without_epoch(frame: str) -> Any:
    message = json.loads(frame)
    message.pop("epoch", None)
    for stream in message.get("streams", []):
        stream.pop("epoch", None)
    return message


async def test_replayed_history_gives_byte_identical_update_frames(
    start_server: Any, tmp_path: Path
) -> None:
    live = await start_server(sources="none", data_dir=str(tmp_path / "live"))
    live.node.catalog.add(MARKET)
    ready = asyncio.Event()
    recording = asyncio.create_task(session(live.ws, live.admin_key, ready))
    await asyncio.wait_for(ready.wait(), 10)
    for n in range(COUNT):
        await live.node.publish(events(n))
    live_frames = await recording
    assert live.node.history is not None
    await live.node.history.flushed()

    store = f"sqlite:///{tmp_path / 'live' / 'history.sqlite3'}"
    replay = await start_server(
        sources=f"history:..,speed=max,wait=2,store={store}", history="off",
        data_dir=str(tmp_path / "replay"),
    )  # fmt: skip
    replay_frames = await session(replay.ws, replay.admin_key)

    assert len(replay_frames) == len(live_frames) == 1 + 1 + 2 * COUNT  # Subscribed, Snapshot
    updates = [f for f in live_frames if '"type":"Update"' in f]
    assert len(updates) == 2 * COUNT - 1  # the book's first event is a Snapshot (reset)
    for live_frame, replay_frame in zip(live_frames, replay_frames, strict=True):
        if '"type":"Update"' in live_frame:
            assert replay_frame == live_frame  # byte for byte
        else:  # Subscribed and Snapshot carry the (per-run) epoch
            assert without_epoch(replay_frame) == without_epoch(live_frame)


def test_history_spec_parsing() -> None:
    """Ranges, options, and refusals."""
    spec = parse_history_spec("history:2026-12-01T00:00:00Z..,speed=10,wait=2,store=sqlite:///h")
    assert (spec.end_ns, spec.speed, spec.wait, spec.store) == (None, 10.0, 2, "sqlite:///h")
    assert spec.start_ns == 1_796_083_200_000_000_000
    assert parse_history_spec("history:..,speed=max,store=sqlite:///h").speed is None
    for bad in ("history:..", "history:x..,store=s", "history:,store=s", "history:..,loop,store=s"):
        with pytest.raises(ConfigError):
            parse_history_spec(bad)
