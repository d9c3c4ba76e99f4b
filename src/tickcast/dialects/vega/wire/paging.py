"""Snapshot pages and update chunks: the lines of a stream, assembled from encoded items.

Items are already-encoded JSON objects (``bytes``), shared between subscribers; a line is
``{"result":<payload>}`` built by concatenation, so an item is never encoded twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from tickcast.dialects.vega.wire.filters import StreamName

PAGE_SIZE = 50
"""The data-node's ``snapshotPageSize`` and the most items of one update message."""

_LIST_FIELD: dict[StreamName, bytes] = {
    StreamName.TRADES: b"trades",
    StreamName.ORDERS: b"orders",
    StreamName.POSITIONS: b"positions",
    StreamName.ACCOUNTS: b"accounts",
    StreamName.MARKETS_DATA: b"marketData",
    StreamName.MARKETS_DEPTH: b"marketDepth",
    StreamName.DEPTH_UPDATES: b"update",
}
_SINGLE_FIELD: dict[StreamName, bytes] = {
    StreamName.CANDLES: b"candle",
    StreamName.MARGIN_LEVELS: b"marginLevels",
    StreamName.LEDGER: b"ledgerMovement",
}


def _chunks(items: Sequence[bytes]) -> list[Sequence[bytes]]:
    return [items[start : start + PAGE_SIZE] for start in range(0, len(items), PAGE_SIZE)]


def snapshot_lines(stream: StreamName, items: Sequence[bytes]) -> list[bytes]:
    """Pages of at most 50; ``lastPage`` only on the last; an empty image is one page with
    only ``lastPage``."""
    name = _LIST_FIELD[stream]
    pages = _chunks(items)
    if not pages:
        return [b'{"result":{"snapshot":{"lastPage":true}}}']
    lines = []
    for index, page in enumerate(pages):
        last = b',"lastPage":true' if index == len(pages) - 1 else b""
        body = b",".join(page)
        lines.append(b'{"result":{"snapshot":{"' + name + b'":[' + body + b"]" + last + b"}}}")
    return lines


def update_lines(stream: StreamName, items: Sequence[bytes]) -> list[bytes]:
    """One block's updates: chunks of at most 50 (one message per item for single-message
    streams: candles, margin levels, ledger movements). Nothing for an empty block."""
    single = _SINGLE_FIELD.get(stream)
    if single is not None:
        return [b'{"result":{"' + single + b'":' + item + b"}}" for item in items]
    name = _LIST_FIELD[stream]
    lines = []
    for chunk in _chunks(items):
        body = b'{"' + name + b'":[' + b",".join(chunk) + b"]}"
        if stream in (StreamName.ORDERS, StreamName.POSITIONS, StreamName.ACCOUNTS):
            lines.append(b'{"result":{"updates":' + body + b"}}")
        else:
            lines.append(b'{"result":' + body + b"}")
    return lines
