"""Which REST-recovered trades fill a loss, and whether they fill all of it (sans-I/O).

Dense venues (Binance, Kraken, OKX) number trades consecutively per market: ids are compared as
integers. Bybit's ids are not ordered (``dense=False``): the REST answer's own order places the
trades, between the last one published (``after``) and the first one received after the loss
(``before``); continuity is proven when the answer holds both.
"""

from __future__ import annotations

from collections.abc import Sequence

from tickcast.model.events import Trade
from tickcast.sources.connectors.protocol import TradesLost

ENDS_EARLY = "REST recent trades end before the live ones"
TOO_SHORT = "REST recent trades do not reach back far enough"
FAILED = "the REST backfill failed"


def recovered(
    lost: TradesLost, trades: Sequence[Trade] | None, *, dense: bool = True
) -> tuple[list[Trade], str | None]:
    """The trades strictly between ``after_trade_id`` and ``before_trade_id`` (oldest first), and
    why the loss is not fully covered (None when it is). ``trades`` None: the request failed."""
    if not dense:
        return _by_position(lost, trades)
    after = int(lost.after_trade_id or 0)
    before = int(lost.before_trade_id) if lost.before_trade_id is not None else None
    found = [
        trade
        for trade in trades or ()
        if int(trade.id) > after and (before is None or int(trade.id) < before)
    ]
    if trades is None:
        return found, FAILED
    if before is not None and before == after + 1:
        return found, None  # nothing was missing after all
    if not found or int(found[0].id) != after + 1:
        return found, TOO_SHORT
    if before is not None and int(found[-1].id) != before - 1:
        return found, ENDS_EARLY
    return found, None


def _by_position(
    lost: TradesLost, trades: Sequence[Trade] | None
) -> tuple[list[Trade], str | None]:
    """Non-dense ids: the answer (oldest first) after ``after`` and before ``before``. Without
    ``after`` in it, every trade before ``before`` is newer than the last published one (the
    answer is the most recent trades), but older ones may be missing."""
    if trades is None:
        return [], FAILED
    ids = [trade.id for trade in trades]
    start = ids.index(lost.after_trade_id) + 1 if lost.after_trade_id in ids else None
    end = ids.index(lost.before_trade_id) if lost.before_trade_id in ids else None
    found = list(trades[start or 0 : end])
    if start is None:
        return found, TOO_SHORT
    if end is None and lost.before_trade_id is not None:
        return found, ENDS_EARLY
    return found, None
