"""OKX v5 public as a ``VenueScript`` for the fake venue (tests/connectors/fake_venue.py).

Frames: the venue-feeds fixture ``okx/ws-v5-20220513.jsonl.gz`` (every frame of one real OKX v5
public connection, 12 s, payloads verbatim; see its README), without the venue's own subscription
answers (this script answers subscriptions itself). REST: ``/api/v5/public/instruments`` from
``okx/instruments-{spot,swap,futures}.json``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "okx"


class OkxScript:
    def __init__(self) -> None:
        raw = gzip.decompress((FIXTURES / "ws-v5-20220513.jsonl.gz").read_bytes()).decode()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        self.frames: list[tuple[int, str]] = [
            (item["ns"], item["frame"])
            for item in lines
            if "frame" in item and "data" in json.loads(item["frame"])
        ]
        self.instruments = {
            kind.upper(): (FIXTURES / f"instruments-{kind}.json").read_bytes()
            for kind in ("spot", "swap", "futures")
        }

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        if message.get("op") != "subscribe":
            return [], set()
        args = message["args"]
        replies = [json.dumps({"event": "subscribe", "arg": arg}) for arg in args]
        return replies, {f"{arg['channel']}:{arg['instId']}" for arg in args}

    def topic(self, frame: str) -> str | None:
        arg = json.loads(frame)["arg"]
        return f"{arg['channel']}:{arg['instId']}"

    def happened(self, index: int, frame: str) -> None:
        return None

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        body = self.instruments.get(query.get("instType", ""))
        if path == "/api/v5/public/instruments" and body is not None:
            return 200, body
        return 404, b'{"code":"51000","msg":"not found","data":[]}'
