"""Bybit v5 public (linear) as a ``VenueScript`` for the fake venue (``fake_venue.py``).

Frames: ``bybit/orderbook200-btcusdt-generated.jsonl.gz`` (300 ``orderbook.200.BTCUSDT`` messages
**generated from Bybit's v5 documentation** by its ``build.py``, not captured; a ``u`` = 1 restart
snapshot at message 150), and, after every fifth book message, one ``publicTrade.BTCUSDT`` message
in the documented format (synthetic: price the best bid or ask of the moment, a deterministic
UUID-like id, as Bybit's derivatives trade ids are).

Deliberately independent of ``tickcast``: the venue's book is rebuilt with plain Decimals. As Bybit
does, a subscription to an ``orderbook`` topic is answered with a snapshot of the book as it is
now (``u`` and ``seq`` of the last message), so a resubscribe resynchronises. Pings are not
answered (a silent venue must stay silent). REST: ``/v5/market/instruments-info`` from
``bybit/instruments-{linear,spot}.json``, the linear list split into two pages (``cursor``);
``/v5/market/recent-trade`` answers the last ``recent_limit`` trades that happened, newest first.
"""

from __future__ import annotations

import gzip
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "bybit"
BOOK_TOPIC = "orderbook.200.BTCUSDT"
TRADE_TOPIC = "publicTrade.BTCUSDT"
ACK = {"success": True, "ret_msg": "", "conn_id": "fake-venue", "req_id": ""}


def stale_snapshot(seq: int) -> str:
    """A snapshot frame older than the book (its ``seq`` is below the book's): stale."""
    data = {"s": "BTCUSDT", "b": [["1.00", "1.000"]], "a": [["2.00", "1.000"]], "u": 5, "seq": seq}
    return json.dumps({"topic": BOOK_TOPIC, "type": "snapshot", "ts": 1, "data": data})


class BybitScript:
    def __init__(self) -> None:
        raw = gzip.decompress((FIXTURES / "orderbook200-btcusdt-generated.jsonl.gz").read_bytes())
        lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        book = [(item["ns"], item["frame"]) for item in lines if "frame" in item]
        self.frames: list[tuple[int, str]] = []
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.update_id = self.seq = self.ts = 0
        self.trade_ids: list[str] = []
        for index, (ns, frame) in enumerate(book):
            self.frames.append((ns, frame))
            self._apply(json.loads(frame))
            if index % 5 == 4:
                self.frames.append((ns + 1, self._trade(index)))
        self.bids, self.asks, self.update_id = {}, {}, 0  # the replay starts from nothing
        self.happened_trades: list[str] = []
        self.recent: list[dict[str, Any]] = []
        """Trades that happened, in the REST ``recent-trade`` format (oldest first)."""
        self.recent_limit = 1000
        """How many trades REST ``recent-trade`` answers with (linear: at most 1000)."""
        linear = json.loads((FIXTURES / "instruments-linear.json").read_bytes())
        first, second = dict(linear), json.loads(json.dumps(linear))
        first["result"] = {**linear["result"], "list": linear["result"]["list"][:1]}
        second["result"] = {**linear["result"], "list": linear["result"]["list"][1:]}
        second["result"]["nextPageCursor"] = ""
        self.pages = {"": json.dumps(first).encode(), "2": json.dumps(second).encode()}
        self.cursor = linear["result"]["nextPageCursor"]

    def _trade(self, index: int) -> str:
        buy = index % 3 != 0
        price = min(self.asks) if buy else max(self.bids)
        trade_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"bybit-trade-{index}"))
        self.trade_ids.append(trade_id)
        item = {"T": self.ts, "s": "BTCUSDT", "S": "Buy" if buy else "Sell", "v": "0.010",
                "p": f"{price:.2f}", "L": "PlusTick", "i": trade_id, "BT": False}  # fmt: skip
        return json.dumps({"topic": TRADE_TOPIC, "type": "snapshot", "ts": self.ts, "data": [item]})

    def _apply(self, message: dict[str, Any]) -> None:
        data = message["data"]
        if message["type"] == "snapshot":
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, size in levels:
                if Decimal(size):
                    side[Decimal(price)] = Decimal(size)
                else:
                    side.pop(Decimal(price), None)
        self.update_id, self.seq, self.ts = data["u"], data["seq"], message["ts"]

    def book(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        return dict(self.bids), dict(self.asks)

    def snapshot(self) -> str:
        data = {
            "s": "BTCUSDT",
            "b": [[f"{p:.2f}", f"{s:.3f}"] for p, s in sorted(self.bids.items(), reverse=True)],
            "a": [[f"{p:.2f}", f"{s:.3f}"] for p, s in sorted(self.asks.items())],
            "u": self.update_id,
            "seq": self.seq,
        }
        return json.dumps({"topic": BOOK_TOPIC, "type": "snapshot", "ts": self.ts, "data": data})

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        op = message.get("op")
        if op not in ("subscribe", "unsubscribe"):
            return [], set()
        replies = [json.dumps({**ACK, "op": op})]
        if op == "unsubscribe":
            return replies, set()
        topics = set(message["args"])
        if BOOK_TOPIC in topics and self.update_id:
            replies.append(self.snapshot())
        return replies, topics

    def topic(self, frame: str) -> str | None:
        topic: str = json.loads(frame)["topic"]
        return topic

    def happened(self, index: int, frame: str) -> None:
        message = json.loads(frame)
        if message["topic"] == BOOK_TOPIC:
            self._apply(message)
        else:
            self.happened_trades.extend(item["i"] for item in message["data"])
            self.recent += [
                {"execId": item["i"], "symbol": item["s"], "price": item["p"], "size": item["v"],
                 "side": item["S"], "time": str(item["T"]), "isBlockTrade": item["BT"]}
                for item in message["data"]
            ]  # fmt: skip

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == "/v5/market/instruments-info" and query.get("category") == "linear":
            page = "2" if query.get("cursor") == unquote(self.cursor) else ""
            return 200, self.pages[page]
        if path == "/v5/market/instruments-info" and query.get("category") == "spot":
            return 200, (FIXTURES / "instruments-spot.json").read_bytes()
        if path == "/v5/market/recent-trade" and query.get("symbol") == "BTCUSDT":
            limit = min(self.recent_limit, int(query.get("limit", "500")))
            recent = self.recent[-limit:][::-1]  # newest first
            result = {"category": query.get("category"), "list": recent}
            return 200, json.dumps({"retCode": 0, "retMsg": "OK", "result": result}).encode()
        return 404, b'{"retCode":10001,"retMsg":"not found","result":{}}'
