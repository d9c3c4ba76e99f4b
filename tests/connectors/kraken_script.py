"""Kraken WebSocket v2 as a ``VenueScript`` for the fake venue (tests/connectors/fake_venue.py).

Frames: the venue-feeds fixture ``kraken/book-v2.jsonl.gz`` (real Kraken book messages of
2021-04-17, re-framed from v1 to v2 with values and checksums unchanged; see its README), cut to
the symbols asked for. REST: ``/0/public/AssetPairs`` from ``kraken/asset-pairs.json``, with
XBTCHF's price decimals set to the capture's. Kraken's own ``checksum`` of each book message is
kept, so a client's book can be checked against it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "kraken"


class KrakenScript:
    def __init__(self, symbols: set[str]) -> None:
        raw = gzip.decompress((FIXTURES / "book-v2.jsonl.gz").read_bytes()).decode()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        self.frames: list[tuple[int, str]] = [
            (item["ns"], item["frame"])
            for item in lines
            if "frame" in item and json.loads(item["frame"])["data"][0]["symbol"] in symbols
        ]
        self.checksums: dict[str, int] = {}
        """The last book checksum Kraken sent per symbol."""
        for _, frame in self.frames:
            data = json.loads(frame)["data"][0]
            if "checksum" in data:
                self.checksums[data["symbol"]] = data["checksum"]
        pairs = json.loads((FIXTURES / "asset-pairs.json").read_bytes())
        # The capture's checksums cover 5 price decimals (Kraken v1's price strings of April
        # 2021, see tests/unit/connectors/test_kraken.py); today's list says 1 for XBTCHF.
        pairs["result"]["XBTCHF"]["pair_decimals"] = 5
        self.asset_pairs = json.dumps(pairs).encode()

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        params = message.get("params", {})
        if message.get("method") != "subscribe":
            return [], set()
        replies = [
            json.dumps({"method": "subscribe", "result": {"channel": params["channel"],
                        "symbol": symbol}, "success": True, "req_id": message.get("req_id")})
            for symbol in params["symbol"]
        ]  # fmt: skip
        return replies, {f"{params['channel']}:{symbol}" for symbol in params["symbol"]}

    def topic(self, frame: str) -> str | None:
        message = json.loads(frame)
        return f"{message['channel']}:{message['data'][0]['symbol']}"

    def happened(self, index: int, frame: str) -> None:
        return None

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == "/0/public/AssetPairs":
            return 200, self.asset_pairs
        return 404, b'{"error":["EGeneral:Unknown method"]}'
