"""Which REST-recovered trades fill a loss, and whether they fill all of it (sans-I/O).

Trade ids are compared as integers: venues with a REST backfill (Binance) number trades
consecutively per market.
"""

from __future__ import annotations

from collections.abc import Sequence

from tickcast.model.events import Trade
from tickcast.sources.connectors.protocol import TradesLost

ENDS_EARLY = "REST recent trades end before the live ones"


def recovered(lost: TradesLost, trades: Sequence[Trade] | None) -> tuple[list[Trade], str | None]:
    """The trades strictly between ``after_trade_id`` and ``before_trade_id`` (oldest first), and
    why the loss is not fully covered (None when it is). ``trades`` None: the request failed."""
    after = int(lost.after_trade_id or 0)
    before = int(lost.before_trade_id) if lost.before_trade_id is not None else None
    found = [
        trade
        for trade in trades or ()
        if int(trade.id) > after and (before is None or int(trade.id) < before)
    ]
    if trades is None:
        return found, "the REST backfill failed"
    if before is not None and before == after + 1:
        return found, None  # nothing was missing after all
    if not found or int(found[0].id) != after + 1:
        return found, "REST recent trades do not reach back far enough"
    if before is not None and int(found[-1].id) != before - 1:
        return found, ENDS_EARLY
    return found, None
