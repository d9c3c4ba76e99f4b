"""An independent reading of the Binance capture fixtures, to check what a replay delivers.

Deliberately separate from ``tickcast.sources.replay``: plain Decimals and dicts, the Binance
spot local-book procedure written out directly.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hftbacktest"
SPOT = FIXTURES / "binance-spot-btcusdt-20240808-head2500.gz"
USDM = FIXTURES / "binance-usdm-btcusdt-20240808-head1500.gz"
SPOT_MARKET = "binance-btc-usdt-spot"
USDM_MARKET = "binance-BTCUSDT-future"

Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]
"""(bids, asks): price -> size."""


def rfc3339_ms(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}000000Z"


@dataclass
class Capture:
    lines: list[tuple[int, dict[str, Any]]]
    trades: list[dict[str, Any]] = field(default_factory=list)
    """Native trade data as the capture says it should arrive (numbers as Decimals)."""
    quotes: list[dict[str, Decimal]] = field(default_factory=list)
    books: list[Book] = field(default_factory=list)
    """The book after the snapshot, then after every applied depth update."""
    depth_lines: list[int] = field(default_factory=list)
    """Line numbers of the depth updates applied after the snapshot."""


def read_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    result = []
    with gzip.open(path, "rt") as stream:
        for line in stream:
            stamp, _, body = line.partition(" ")
            result.append((int(stamp), json.loads(body)))
    return result


def _set(side: dict[Decimal, Decimal], levels: list[list[str]]) -> None:
    for price, size in levels:
        if Decimal(size) == 0:
            side.pop(Decimal(price), None)
        else:
            side[Decimal(price)] = Decimal(size)


def read_spot(path: Path = SPOT) -> Capture:
    """Trades, quotes and book states of a spot capture (U/u procedure)."""
    capture = Capture(read_lines(path))
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    buffered: list[tuple[int, dict[str, Any]]] = []
    local_id: int | None = None
    for number, (_, message) in enumerate(capture.lines):
        if "lastUpdateId" in message:
            bids, asks = {}, {}
            _set(bids, message["bids"])
            _set(asks, message["asks"])
            local_id = message["lastUpdateId"]
            capture.books.append((dict(bids), dict(asks)))
            pending, buffered = buffered, []
        else:
            data = message["data"]
            kind = message["stream"].split("@")[1]
            if kind == "trade":
                capture.trades.append(
                    {
                        "id": str(data["t"]),
                        "price": Decimal(data["p"]),
                        "size": Decimal(data["q"]),
                        "side": "sell" if data["m"] else "buy",
                        "time": rfc3339_ms(data["T"]),
                    }
                )
            elif kind == "bookTicker":
                capture.quotes.append(
                    {
                        k: Decimal(data[c])
                        for k, c in zip(
                            ("bid_price", "bid_size", "ask_price", "ask_size"), "bBaA", strict=True
                        )
                    }
                )
            if not kind.startswith("depth"):
                continue
            pending = [(number, data)]
            if local_id is None:
                buffered.append((number, data))
                continue
        for line_number, data in pending:
            assert local_id is not None
            if data["u"] <= local_id:
                continue
            assert data["U"] <= local_id + 1, "the fixture itself has a gap"
            _set(bids, data["b"])
            _set(asks, data["a"])
            local_id = data["u"]
            capture.books.append((dict(bids), dict(asks)))
            capture.depth_lines.append(line_number)
    return capture


def decimal_book(data: dict[str, Any]) -> Book:
    """A native book Snapshot's data as Decimal dicts."""
    return (
        {Decimal(p): Decimal(s) for p, s in data["bids"]},
        {Decimal(p): Decimal(s) for p, s in data["asks"]},
    )


def decimal_trade(data: dict[str, Any]) -> dict[str, Any]:
    """A native trade's data with Decimal numbers (to compare with the capture's)."""
    return {
        "id": data["id"],
        "price": Decimal(data["price"]),
        "size": Decimal(data["size"]),
        "side": data["side"],
        "time": data["time"],
    }
