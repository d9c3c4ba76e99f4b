"""OKX v5 public as a ``VenueScript`` for the fake venue (tests/connectors/fake_venue.py).

Frames: the venue-feeds fixture ``okx/ws-v5-20220513.jsonl.gz`` (every frame of one real OKX v5
public connection, 12 s, payloads verbatim; see its README), without the venue's own subscription
answers (this script answers subscriptions itself). With ``sequenced`` the book messages get the
``seqId`` / ``prevSeqId`` OKX added in 2023 (the capture predates them), numbered per instrument
as OKX documents; the checksums do not cover them. REST: ``/api/v5/public/instruments`` from
``okx/instruments-{spot,swap,futures}.json``.

Deliberately independent of ``tickcast``, the venue rebuilds each book with its own strings and
answers a ``books`` subscription with a snapshot of it as it is now, checksummed with OKX's
documented algorithm (``okx_checksum``), as OKX does on a resubscription.
"""

from __future__ import annotations

import gzip
import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "okx"
Side = dict[Decimal, list[str]]
"""price -> the level as OKX sends it: [price, size, "0", order count]."""


def okx_checksum(bids: Side, asks: Side) -> int:
    """CRC32 (signed) of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25 of each side."""
    top_bids = [bids[p] for p in sorted(bids, reverse=True)[:25]]
    top_asks = [asks[p] for p in sorted(asks)[:25]]
    parts: list[str] = []
    for index in range(25):
        for side in (top_bids, top_asks):
            if index < len(side):
                parts.append(f"{side[index][0]}:{side[index][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class OkxScript:
    def __init__(self, *, sequenced: bool = False) -> None:
        raw = gzip.decompress((FIXTURES / "ws-v5-20220513.jsonl.gz").read_bytes()).decode()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        self.frames: list[tuple[int, str]] = [
            (item["ns"], item["frame"])
            for item in lines
            if "frame" in item and "data" in json.loads(item["frame"])
        ]
        if sequenced:
            self.frames = self._sequenced(self.frames)
        self.instruments = {
            kind.upper(): (FIXTURES / f"instruments-{kind}.json").read_bytes()
            for kind in ("spot", "swap", "futures")
        }
        self.books: dict[str, tuple[Side, Side]] = {}
        self.seqs: dict[str, int] = {}
        self.trade_ids: dict[str, list[str]] = {}
        self.trades: dict[str, list[dict[str, Any]]] = {}
        """Trades that happened per instrument (REST ``market/trades`` answers the last ones)."""
        self.recent_limit = 500
        """How many trades REST ``market/trades`` answers with (OKX: at most 500)."""
        for _, frame in self.frames:
            message = json.loads(frame)
            if message["arg"]["channel"] == "trades":
                for item in message["data"]:
                    self.trade_ids.setdefault(item["instId"], []).append(item["tradeId"])

    @staticmethod
    def _sequenced(frames: list[tuple[int, str]]) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        seqs: dict[str, int] = {}
        for ns, frame in frames:
            message = json.loads(frame)
            if message["arg"]["channel"] == "books":
                inst = message["arg"]["instId"]
                previous = -1 if message["action"] == "snapshot" else seqs[inst]
                seqs[inst] = seqs.get(inst, 1000) + 7
                message["data"][0].update(seqId=seqs[inst], prevSeqId=previous)
                frame = json.dumps(message)
            out.append((ns, frame))
        return out

    def book(self, inst_id: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        bids, asks = self.books.get(inst_id, ({}, {}))
        return (
            {p: Decimal(level[1]) for p, level in bids.items()},
            {p: Decimal(level[1]) for p, level in asks.items()},
        )

    def _snapshot(self, inst_id: str) -> str:
        bids, asks = self.books[inst_id]
        data: dict[str, Any] = {
            "asks": [asks[p] for p in sorted(asks)],
            "bids": [bids[p] for p in sorted(bids, reverse=True)],
            "ts": "1652459225464",
            "checksum": okx_checksum(bids, asks),
        }
        if inst_id in self.seqs:
            data.update(seqId=self.seqs[inst_id], prevSeqId=-1)
        arg = {"channel": "books", "instId": inst_id}
        return json.dumps({"arg": arg, "action": "snapshot", "data": [data]})

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        if message.get("op") not in ("subscribe", "unsubscribe"):
            return [], set()
        args = message["args"]
        replies = [json.dumps({"event": message["op"], "arg": arg}) for arg in args]
        if message["op"] == "unsubscribe":
            return replies, set()
        replies += [
            self._snapshot(arg["instId"])
            for arg in args
            if arg["channel"] == "books" and arg["instId"] in self.books
        ]
        return replies, {f"{arg['channel']}:{arg['instId']}" for arg in args}

    def topic(self, frame: str) -> str | None:
        arg = json.loads(frame)["arg"]
        return f"{arg['channel']}:{arg['instId']}"

    def happened(self, index: int, frame: str) -> None:
        message = json.loads(frame)
        if message["arg"]["channel"] == "trades":
            for item in message["data"]:
                self.trades.setdefault(item["instId"], []).append(item)
        if message["arg"]["channel"] != "books":
            return
        inst, data = message["arg"]["instId"], message["data"][0]
        if message["action"] == "snapshot":
            self.books[inst] = ({}, {})
        for side, levels in zip(self.books[inst], (data["bids"], data["asks"]), strict=True):
            for level in levels:
                if Decimal(level[1]):
                    side[Decimal(level[0])] = level
                else:
                    side.pop(Decimal(level[0]), None)
        if "seqId" in data:
            self.seqs[inst] = data["seqId"]

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        body = self.instruments.get(query.get("instType", ""))
        if path == "/api/v5/public/instruments" and body is not None:
            return 200, body
        if path == "/api/v5/market/trades":
            limit = min(self.recent_limit, int(query.get("limit", "100")))
            recent = self.trades.get(query["instId"], [])[-limit:][::-1]  # newest first
            return 200, json.dumps({"code": "0", "msg": "", "data": recent}).encode()
        return 404, b'{"code":"51000","msg":"not found","data":[]}'
