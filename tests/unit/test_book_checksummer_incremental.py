"""BookChecksummer stamps the same checksums as the former formatting implementation."""

from __future__ import annotations

import dataclasses
import random

import pytest

from tickcast.book import OrderBook, book_checksum
from tickcast.errors import UnknownStream
from tickcast.model import BookDelta, BookSnapshot, Event, Market, MarketCatalog, Side, Trade
from tickcast.model.markets import MarketKind
from tickcast.state import BookChecksummer

MARKETS = [
    Market("kr-btc-usd-spot", "kr", MarketKind.SPOT, "BTC", "USD", "BTCUSD", 1, 8),
    Market("kr-eth-usd-spot", "kr", MarketKind.SPOT, "ETH", "USD", "ETHUSD", 0, 0),
]


class FormattingChecksummer:
    """The implementation before issue 20: the top 10 formatted for every event."""

    def __init__(self, catalog: MarketCatalog) -> None:
        self.catalog = catalog
        self.books: dict[str, OrderBook] = {}

    def annotate(self, event: Event) -> Event:
        if isinstance(event, BookSnapshot):
            book = self.books[event.market] = OrderBook()
            book.apply_snapshot(event.bids, event.asks)
        elif isinstance(event, BookDelta):
            book = self.books.setdefault(event.market, OrderBook())
            book.apply_delta(event.bids, event.asks)
        else:
            return event
        market = self.catalog.get(event.market)
        bids, asks = book.top(10)
        checksum = book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )
        return dataclasses.replace(event, checksum=checksum)


def levels(rng: random.Random, center: int) -> tuple[tuple[int, int], ...]:
    return tuple(
        (center + rng.randrange(-30, 30), 0 if rng.random() < 0.2 else rng.randrange(1, 10**9))
        for _ in range(rng.choice((0, 1, 2, 5)))
    )


def events(seed: int, count: int) -> list[Event]:
    rng = random.Random(seed)
    out: list[Event] = []
    for i in range(count):
        market = rng.choice(MARKETS).id
        roll = rng.random()
        if roll < 0.1:
            out.append(Trade(market, str(i), 1000, 1, Side.BUY, i))
        elif roll < 0.13:
            snapshot = [levels(rng, 1000 - 40) + levels(rng, 1000 - 40) for _ in range(2)]
            out.append(BookSnapshot(market, snapshot[0], snapshot[1], i))
        else:
            out.append(BookDelta(market, levels(rng, 1000 - 40), levels(rng, 1000 + 40), i))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_checksums_are_bit_identical_to_the_formatting_implementation(seed: int) -> None:
    catalog = MarketCatalog(MARKETS)
    old, new = FormattingChecksummer(catalog), BookChecksummer(catalog=catalog)
    batch = events(seed, 2000)
    expected = [old.annotate(event) for event in batch]
    got = []
    for start in range(0, len(batch), 37):
        got.extend(new.annotate(batch[start : start + 37]))
    assert got == expected
    assert all(type(a) is type(b) for a, b in zip(got, expected, strict=True))


def test_unknown_market_still_raises() -> None:
    checksummer = BookChecksummer(catalog=MarketCatalog(MARKETS[:1]))
    with pytest.raises(UnknownStream):
        checksummer.annotate([BookDelta("kr-eth-usd-spot", ((1, 1),), (), 1)])
