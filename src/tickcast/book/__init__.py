"""Order books: the L2 book, Kraken's book checksum (also kept incrementally), depth views."""

from tickcast.book.checksum import CHECKSUM_DEPTH, book_checksum, checksum_of_strings
from tickcast.book.checksummed import ChecksummedBook, level_digits
from tickcast.book.orderbook import OrderBook, TopLevels
from tickcast.book.view import DepthView

__all__ = [
    "CHECKSUM_DEPTH",
    "ChecksummedBook",
    "DepthView",
    "OrderBook",
    "TopLevels",
    "book_checksum",
    "checksum_of_strings",
    "level_digits",
]
