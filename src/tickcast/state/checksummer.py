"""Ingest-side book keeping: stamps every book event with the checksum of the book after it.

Checksums travel with the event through the bus and its history, so a replay carries the same
checksum the live update did.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from tickcast.book import OrderBook, book_checksum
from tickcast.model import BookDelta, BookSnapshot, Event, MarketCatalog

logger = logging.getLogger("tickcast.state")


class BookChecksummer:
    def __init__(self, *, catalog: MarketCatalog) -> None:
        self._catalog = catalog
        self._books: dict[str, OrderBook] = {}

    def annotate(self, events: Sequence[Event]) -> list[Event]:
        """The same events, book events carrying their checksum."""
        return [self._annotate(event) for event in events]

    def _annotate(self, event: Event) -> Event:
        if isinstance(event, BookSnapshot):
            book = self._books[event.market] = OrderBook()
            book.apply_snapshot(event.bids, event.asks)
        elif isinstance(event, BookDelta):
            book = self._books.setdefault(event.market, OrderBook())
            book.apply_delta(event.bids, event.asks)
        else:
            return event
        if book.is_crossed():
            logger.warning("book %s is crossed after an update", event.market)
        market = self._catalog.get(event.market)
        bids, asks = book.top(10)
        checksum = book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )
        return dataclasses.replace(event, checksum=checksum)
