"""Fixture frames of the venue feeds and a consumer-side book rebuilt from published events.

A frames file (``tests/fixtures/connectors/<venue>/*.jsonl[.gz]``) holds one JSON object per line:
``{"ns": <receive time ns>, "frame": "<WebSocket text frame as the venue sends it>"}``; a fake venue
replays them in order (``ns`` gives the recorded timing). ``{"ns": ..., "rest": <path>, "body":
"<REST answer>"}`` lines are REST answers.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from tickcast.book.orderbook import OrderBook
from tickcast.model.events import BookDelta, BookSnapshot, Event
from tickcast.sources.connectors.protocol import Command, Publish, Resynced, TradesLost

FIXTURES = Path(__file__).parents[2] / "fixtures" / "connectors"


def read_frames(path: Path) -> list[tuple[int, str]]:
    """(receive ns, frame text) of every WebSocket frame line of ``path``."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    items = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return [(item["ns"], item["frame"]) for item in items if "frame" in item]


def serve(path: Path) -> Iterator[tuple[int, str]]:
    """What a fake venue sends, in order: the frames of ``path`` with their recorded times."""
    yield from read_frames(path)


def events_of(commands: Iterable[Command]) -> list[Event]:
    return [
        event for command in commands if isinstance(command, Publish) for event in command.events
    ]


def of_type(commands: Iterable[Command], kind: type) -> list[Command]:
    return [command for command in commands if isinstance(command, kind)]


class ConsumerBooks:
    """Books as a downstream client rebuilds them from the published events only."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}

    def apply(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, BookSnapshot):
                book = self.books[event.market] = OrderBook()
                book.apply_snapshot(event.bids, event.asks)
            elif isinstance(event, BookDelta):
                self.books[event.market].apply_delta(event.bids, event.asks)


def scaled(side: dict[Decimal, Decimal], decimals: tuple[int, int]) -> dict[int, int]:
    """An independent Decimal book side as scaled ints (for comparing with an ``OrderBook``)."""
    price_scale, size_scale = (Decimal(10) ** d for d in decimals)
    return {int(p * price_scale): int(q * size_scale) for p, q in side.items()}


def side_dict(levels: Iterable[tuple[int, int]]) -> dict[int, int]:
    return dict(levels)


def breaks(commands: Iterable[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, (Resynced, TradesLost))]
