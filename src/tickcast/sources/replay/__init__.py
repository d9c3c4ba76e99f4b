"""Replay of recorded market data: raw Binance captures, Tardis CSV and tickcast recordings.

Parsing and book rebuilding are sans-I/O (``binance``, ``binance_book``, ``tardis``,
``recording``, ``pacing``); ``files`` reads the files and ``source.ReplaySource`` paces the events
into the node's sink. See ``docs/sources.md``.
"""

from tickcast.sources.replay.binance_book import BinanceBookSync, BookBreak, DepthEvent
from tickcast.sources.replay.source import ReplaySource
from tickcast.sources.replay.spec import ReplayOptions, parse_spec, with_defaults

__all__ = [
    "BinanceBookSync",
    "BookBreak",
    "DepthEvent",
    "ReplayOptions",
    "ReplaySource",
    "parse_spec",
    "with_defaults",
]
