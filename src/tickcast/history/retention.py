"""Retention per stream kind (sans-I/O): how long each kind is kept, and the cut-off times.

Defaults (docs/history.md): trades, candles, metrics, orders, positions and predictions 30 days;
book (snapshots, deltas and checkpoints), quotes and ticker 7 days. Configured as
``"book=3d,trades=90d,quotes=12h"`` (units ``s m h d``; ``0`` or ``forever`` keeps a kind
forever). Expiry removes rows in bounded chunks between write batches, so it never stalls the
writer for longer than one chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tickcast.model import StreamKind

DAY_NS = 86_400_000_000_000
_UNITS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": DAY_NS}
DEFAULT_DAYS: dict[str, int] = {
    StreamKind.TRADES: 30,
    StreamKind.CANDLES: 30,
    StreamKind.METRICS: 30,
    StreamKind.ORDERS: 30,
    StreamKind.POSITIONS: 30,
    StreamKind.PREDICTIONS: 30,
    StreamKind.BOOK: 7,
    StreamKind.QUOTES: 7,
    StreamKind.TICKER: 7,
}


def _duration(text: str) -> int | None:
    """Nanoseconds of ``"30d"``/``"12h"``/...; None for ``0``/``forever``; ValueError else."""
    text = text.strip().lower()
    if text in ("0", "forever"):
        return None
    unit = _UNITS.get(text[-1:])
    if unit is None or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"retention must look like 30d, 12h, 90m, 3600s or forever: {text!r}")
    return int(text[:-1]) * unit


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Nanoseconds each kind is kept (None: forever)."""

    keep_ns: Mapping[str, int | None] = field(
        default_factory=lambda: {kind: days * DAY_NS for kind, days in DEFAULT_DAYS.items()}
    )

    @classmethod
    def parse(cls, text: str) -> RetentionPolicy:
        """The defaults overridden by ``"kind=duration,..."`` (ValueError naming the bad part)."""
        keep: dict[str, int | None] = dict(cls().keep_ns)
        for part in filter(None, (p.strip() for p in text.split(","))):
            kind, sep, duration = part.partition("=")
            if not sep or kind.strip() not in DEFAULT_DAYS:
                raise ValueError(
                    f"retention entry must be KIND=DURATION with a stream kind: {part!r}"
                )
            keep[kind.strip()] = _duration(duration)
        return cls(keep)

    def cutoffs(self, now_ns: int) -> dict[str, int]:
        """Per kind kept for a limited time: rows with ``time_ns`` below this expire."""
        return {kind: now_ns - keep for kind, keep in self.keep_ns.items() if keep is not None}
