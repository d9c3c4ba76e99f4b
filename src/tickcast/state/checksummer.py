"""Ingest-side book keeping: stamps every book event with the checksum of the book after it.

Checksums travel with the event through the bus and its history, so a replay carries the same
checksum the live update did. Each book keeps its checksum incrementally
(``book.ChecksummedBook``): a delta costs the levels it changes, not a formatting of the top 20.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from tickcast.book import ChecksummedBook
from tickcast.model import BookDelta, BookSnapshot, Event, MarketCatalog

logger = logging.getLogger("tickcast.state")


class BookChecksummer:
    def __init__(self, *, catalog: MarketCatalog) -> None:
        self._catalog = catalog
        self._books: dict[str, ChecksummedBook] = {}

    def annotate(self, events: Sequence[Event]) -> list[Event]:
        """The same events, book events carrying their checksum."""
        annotate, books, known = self._annotate, self._books, self._catalog.get
        annotated: list[Event] = []
        append = annotated.append
        for event in events:
            if type(event) is BookDelta:  # the next delta of a book (``_annotate``, inlined)
                book = books.get(event.market)
                if book is not None:
                    checksum = book.apply_delta(event.bids, event.asks)
                    if book.is_crossed():
                        logger.warning("book %s is crossed after an update", event.market)
                    known(event.market)  # an unknown market raises UnknownStream, as before
                    append(BookDelta(event.market, event.bids, event.asks, event.time_ns, checksum))
                    continue
            append(annotate(event) if isinstance(event, BookDelta | BookSnapshot) else event)
        return annotated

    def _annotate(self, event: BookDelta | BookSnapshot) -> Event:
        books = self._books
        if isinstance(event, BookSnapshot):
            book = books[event.market] = ChecksummedBook()
            book.apply_snapshot(event.bids, event.asks)
        else:
            found = books.get(event.market)
            book = found if found is not None else books.setdefault(event.market, ChecksummedBook())
            book.apply_delta(event.bids, event.asks)
        if book.is_crossed():
            logger.warning("book %s is crossed after an update", event.market)
        self._catalog.get(event.market)  # an unknown market raises UnknownStream, as before
        checksum = book.checksum
        kind = type(event)
        if kind is BookDelta or kind is BookSnapshot:  # not a subclass: no field beyond these
            return kind(event.market, event.bids, event.asks, event.time_ns, checksum)
        return dataclasses.replace(event, checksum=checksum)
