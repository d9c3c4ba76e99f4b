"""Market depth updates: changed levels per block with gap-detectable sequence numbers.

``sequenceNumber`` = block time truncated to microseconds (in ns) + the update's index in the
block, as the data-node derives it from the block time and event sequence; it always grows for a
market, and each update carries the previous one's as ``previousSequenceNumber``.

While nobody streams depth updates the changed levels are not kept: ``touch`` only notes that a
market's book moved, and the block still takes a sequence number for it (sent to nobody), so
``GET …/depth/{market}/latest`` names the number the next update will name as previous, and an
update whose block also held untracked changes shows a gap (its previous was never sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tickcast.model import Level


@dataclass(frozen=True, slots=True)
class DepthChange:
    market: str
    bids: tuple[Level, ...]
    """Changed bid levels, best first; size 0 = level removed."""
    asks: tuple[Level, ...]
    sequence: int
    previous: int


class DepthSequencer:
    """Collects changed levels per market between blocks."""

    def __init__(self) -> None:
        self._bids: dict[str, dict[int, int]] = {}
        self._asks: dict[str, dict[int, int]] = {}
        self._last: dict[str, int] = {}
        self._touched: dict[str, None] = {}

    def changed(self, market: str, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Record absolute level totals (size 0: the level is gone)."""
        self._bids.setdefault(market, {}).update(bids)
        self._asks.setdefault(market, {}).update(asks)

    def touch(self, market: str) -> None:
        """The market's book changed, levels not kept (nobody streams depth updates)."""
        self._touched[market] = None

    def last_sequence(self, market: str) -> int:
        """The sequence number of the market's last update (0 before the first)."""
        return self._last.get(market, 0)

    def flush(self, block_ns: int) -> list[DepthChange]:
        """The block's updates, one per changed market, in the order markets changed."""
        base = block_ns // 1000 * 1000
        out = []
        touched, self._touched = self._touched, {}
        for index, market in enumerate(touched, start=1):
            self._last[market] = max(base + index, self._last.get(market, 0) + 1)
        for index, market in enumerate(list(self._bids), start=len(touched) + 1):
            bids = self._bids.pop(market)
            asks = self._asks.pop(market, {})
            if not bids and not asks:
                continue
            previous = self._last.get(market, 0)
            sequence = max(base + index, previous + 1)
            self._last[market] = sequence
            out.append(
                DepthChange(
                    market,
                    tuple(sorted(bids.items(), reverse=True)),
                    tuple(sorted(asks.items())),
                    sequence,
                    previous,
                )
            )
        return out
