"""Binance (spot, USD-M, COIN-M) as a ``VenueScript`` for the fake venue, from raw captures.

Deliberately independent of ``tickcast``: the book is rebuilt with plain Decimals following
Binance's documented procedure (buffer, snapshot, apply), so what a client ends with can be
compared with it. REST answers:

- ``<api>/exchangeInfo``: the fixture file (``exchange-info-*.json``);
- ``<api>/depth``: the capture's own recorded snapshot while the replay has not passed it, then the
  venue's rebuilt book at the last depth frame it sent (``lastUpdateId`` = that frame's ``u``);
  the first ``stale_snapshots`` answers after a resync replay the capture's old snapshot instead;
- ``<api>/trades``: the last ``recent_limit`` trades that happened, in the REST format.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

Side = dict[Decimal, tuple[str, str]]
"""price -> (price string, size string) as the venue printed them."""


def read_capture(path: Path) -> list[tuple[int, dict[str, Any], str]]:
    """(local ns, message, raw JSON text) per line."""
    out = []
    with gzip.open(path, "rt") as stream:
        for line in stream:
            stamp, _, body = line.strip().partition(" ")
            out.append((int(stamp), json.loads(body), body))
    return out


def topic_of(stream: str) -> str:
    """``btcusdt@depth@100ms`` -> ``btcusdt@depth``; other streams unchanged."""
    symbol, _, kind = stream.partition("@")
    return f"{symbol}@{kind.split('@')[0]}"


@dataclass
class _Symbol:
    futures: bool
    snapshot: str | None = None
    """The capture's recorded REST snapshot (raw JSON)."""
    snapshot_at: int = -1
    """Frame index before which the recorded snapshot was taken."""
    bids: Side = field(default_factory=dict)
    asks: Side = field(default_factory=dict)
    local: int | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, Any] | None = None
    depth_sent: asyncio.Event = field(default_factory=asyncio.Event)
    trades: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        assert self.snapshot is not None
        data = json.loads(self.snapshot)
        self.bids, self.asks = {}, {}
        _set(self.bids, data["bids"])
        _set(self.asks, data["asks"])
        self.local = data["lastUpdateId"]
        pending, self.buffer = self.buffer, []
        for event in pending:
            self.depth(event)

    def depth(self, data: dict[str, Any]) -> None:
        if self.local is None:
            self.buffer.append(data)
            return
        if data["u"] < self.local or (not self.futures and data["u"] == self.local):
            return
        _set(self.bids, data["b"])
        _set(self.asks, data["a"])
        self.local = data["u"]
        self.last = data

    def rebuilt(self) -> bytes:
        assert self.last is not None and self.local is not None
        body: dict[str, Any] = {"lastUpdateId": self.local}
        if self.futures:
            body |= {"E": self.last["E"], "T": self.last["T"]}
        body["bids"] = [list(self.bids[p]) for p in sorted(self.bids, reverse=True)]
        body["asks"] = [list(self.asks[p]) for p in sorted(self.asks)]
        return json.dumps(body).encode()

    def book(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        return (
            {p: Decimal(s) for p, (_, s) in self.bids.items()},
            {p: Decimal(s) for p, (_, s) in self.asks.items()},
        )


def _set(side: Side, levels: list[list[str]]) -> None:
    for price, size in levels:
        if Decimal(size) == 0:
            side.pop(Decimal(price), None)
        else:
            side[Decimal(price)] = (price, size)


class BinanceScript:
    def __init__(
        self,
        captures: list[Path],
        exchange_info: Path,
        *,
        futures: bool,
        stale_snapshots: int = 0,
        recent_limit: int = 1000,
    ) -> None:
        self.exchange_info = exchange_info.read_bytes()
        self.futures = futures
        self.stale_snapshots = stale_snapshots
        self.recent_limit = recent_limit
        self.symbols: dict[str, _Symbol] = {}
        self.frames: list[tuple[int, str]] = []
        self.trade_ids: dict[str, list[int]] = {}
        self.snapshot_requests = 0
        lines = sorted(
            (line for path in captures for line in read_capture(path)), key=lambda x: x[0]
        )
        for local_ns, message, raw in lines:
            if "lastUpdateId" in message:
                symbol = message.get("symbol") or self._only_symbol()
                state = self._symbol(symbol)
                if state.snapshot is None:
                    state.snapshot, state.snapshot_at = raw, len(self.frames)
                continue
            self.frames.append((local_ns, raw))
            data = message["data"]
            state = self._symbol(data["s"])
            if message["stream"].endswith("@trade"):
                self.trade_ids.setdefault(data["s"], []).append(data["t"])
        self._parsed = [json.loads(raw) for _, raw in self.frames]

    def _symbol(self, symbol: str) -> _Symbol:
        return self.symbols.setdefault(symbol, _Symbol(self.futures))

    def _only_symbol(self) -> str:
        (symbol,) = self.symbols
        return symbol

    # VenueScript ----------------------------------------------------------------------------

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        if message.get("method") != "SUBSCRIBE":
            return [json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": None})], set()
        reply = json.dumps({"result": None, "id": message["id"]})
        return [reply], {topic_of(stream) for stream in message["params"]}

    def topic(self, frame: str) -> str | None:
        stream = frame[len('{"stream":"') : frame.index('"', len('{"stream":"'))]
        return topic_of(stream)

    def subscribed(self) -> None:
        for state in self.symbols.values():
            state.depth_sent.clear()

    def happened(self, index: int, frame: str) -> None:
        message = self._parsed[index]
        data = message["data"]
        state = self.symbols[data["s"]]
        if index == state.snapshot_at:
            state.start()
        if "@depth" in message["stream"]:
            state.depth(data)
            if state.local is not None:
                state.depth_sent.set()
        elif message["stream"].endswith("@trade"):
            state.trades.append(data)

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        endpoint = path.rpartition("/")[2]
        if endpoint == "exchangeInfo":
            return 200, self.exchange_info
        state = self.symbols.get(query.get("symbol", ""))
        if state is None:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
        if endpoint == "depth":
            return 200, await self._depth(state)
        if endpoint == "trades":
            recent = state.trades[-min(self.recent_limit, int(query.get("limit", "500"))) :]
            return 200, json.dumps([_rest_trade(t) for t in recent]).encode()
        return 404, b'{"code":-1,"msg":"not found"}'

    async def _depth(self, state: _Symbol) -> bytes:
        self.snapshot_requests += 1
        assert state.snapshot is not None
        if state.local is None:
            return state.snapshot.encode()
        if self.stale_snapshots and self.snapshot_requests > 1:
            self.stale_snapshots -= 1
            return state.snapshot.encode()
        await state.depth_sent.wait()
        return state.rebuilt()


def _rest_trade(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data["t"],
        "price": data["p"],
        "qty": data["q"],
        "quoteQty": str(Decimal(data["p"]) * Decimal(data["q"])),
        "time": data["T"],
        "isBuyerMaker": data["m"],
    }
