"""Coin Metrics stream ``backfill=latest`` from the durable history store (issue 17 point 4).

Hook: ``CmStreamConnection._join`` asks here for an EVENT stream (trades, liquidations, candles)
whose backfill the bus's in-memory history could not give (after a restart the bus starts a new
epoch, empty), and for a ``market-quotes`` stream whose node state has no quote. Rules:

* The store's newest ``limit`` events of the stream (the same look-back as the bus path: one
  trade, the last 500 trades for a liquidation, one candle; one quote) are encoded as live
  encoded them; the caller keeps the newest non-empty frames, as for the bus path.
* Only events the live stream will not send again are used: an older epoch's, or the current
  epoch's up to the position the stream joined the hub at. No gap is possible to express in the
  dialect, so none is reported. The other STATE streams (metrics, open interest, books, ...)
  keep their snapshot from the node's state only.
"""

from __future__ import annotations

from tickcast.dialects.coinmetrics.wire.encoders import CmEncoder
from tickcast.history.service import History
from tickcast.model import StreamPosition


async def stored_backfill(
    history: History | None,
    encoder: CmEncoder,
    stream: str,
    joined_at: StreamPosition,
    limit: int,
) -> tuple[bytes, ...]:
    """The frames of the stream's newest stored events before ``joined_at``, oldest first."""
    if history is None or limit <= 0:
        return ()
    rows = await history.range(stream, None, None, limit=limit, descending=True)
    kept = [
        row for row in reversed(rows) if row.epoch != joined_at.epoch or row.seq <= joined_at.seq
    ]
    return tuple(encoder.update_frame(stream, row.seq, row.event, None) for row in kept)
