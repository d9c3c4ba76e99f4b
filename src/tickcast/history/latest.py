"""The last event per key at or before T, from any store's primitive queries (``HistoryStore
.latest`` of every backend is this function; rules in ``history/keyed.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickcast.history.keyed import KEYED_KINDS, LAST_EVENT_KINDS, KeyedState
from tickcast.history.rows import Row, kind_of

if TYPE_CHECKING:
    from tickcast.history.base import HistoryStore

CHUNK = 10_000
"""Rows folded per read after the checkpoint."""


async def latest_rows(store: HistoryStore, stream: str, time_ns: int) -> list[Row]:
    """Per key, the newest row at or before ``time_ns`` of the epoch of the stream's newest
    row at or before it, ended keys left out, in the live state's order. A quotes or ticker
    stream has one key (its last row); other streams (books, events) have none: ``[]``."""
    kind = kind_of(stream)
    if kind not in KEYED_KINDS and kind not in LAST_EVENT_KINDS:
        return []
    newest = await store.range(stream, None, time_ns, limit=1, descending=True)
    if not newest or kind in LAST_EVENT_KINDS:
        return newest
    epoch = newest[0].epoch
    checkpoint = await store.checkpoint_at(stream, time_ns)
    if checkpoint is not None and checkpoint.epoch == epoch:
        state = KeyedState.decode(checkpoint)
    else:
        state = KeyedState(epoch)
    while True:
        rows = await store.since(stream, epoch, state.seq, limit=CHUNK, until_ns=time_ns)
        state.fold(rows)
        if len(rows) < CHUNK:
            return list(state.rows.values())
        state.seq = rows[-1].seq
