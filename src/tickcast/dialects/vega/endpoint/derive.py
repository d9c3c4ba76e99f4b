"""The Vega feed's derived-state stages, fed from one pass over each batch.

The stages are those of :class:`~tickcast.state.derived.Derived` (``parties``, ``live-orders``,
``open-candles``, ``accounts``) plus the feed's ``vega-seed``, under the same names, at
``Step.DERIVE``, each isolated by the pipeline. What differs from registering them one by one
(``Derived.register``) is the cost while nobody listens: instead of each stage walking the whole
batch and testing every event's type, the first of them to run splits the batch once
(:class:`Split`, by exact type) and each stage gets only its events, in order: candles the
trades, live orders the orders, accounts the positions, and parties the party ids, added with
one ``dict.update`` (in first-seen order, as the stage does event by event).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Envelope,
    Order,
    Position,
    Prediction,
    Quote,
    Ticker,
    Trade,
    TradesGap,
)
from tickcast.state.derived import Derived
from tickcast.state.pipeline import Pipeline, Step

_KINDS = (Trade, Order, Position, BookSnapshot)
_OTHERS = frozenset({BookDelta, Quote, Candle, Ticker, AssetMetric, Prediction, TradesGap})
"""Event classes no stage reads: skipped by one set lookup."""


class Split:
    """One batch's events of the kinds the stages read, by kind, in event order."""

    __slots__ = ("_last", "orders", "parties", "positions", "snapshots", "trades")

    def __init__(self) -> None:
        self._last: Sequence[Envelope] | None = None
        self.trades: list[Envelope] = []
        self.orders: list[Envelope] = []
        self.positions: list[Envelope] = []
        self.snapshots: list[Envelope] = []
        self.parties: list[str] = []
        """Party ids in the order the events name them (a trade: buyer, then seller)."""

    def of(self, envelopes: Sequence[Envelope]) -> Split:
        """This batch, split (once: the later stages of the same batch reuse it)."""
        if envelopes is not self._last:
            self._last = None
            self._split(envelopes)
            self._last = envelopes
        return self

    def forget(self) -> None:
        self._last = None

    def _split(self, envelopes: Sequence[Envelope]) -> None:
        trades: list[Envelope] = []
        orders: list[Envelope] = []
        positions: list[Envelope] = []
        snapshots: list[Envelope] = []
        parties: list[str] = []
        for envelope in envelopes:
            event = envelope.event
            kind = type(event)
            if kind is Order:  # the kinds by how often the simulator publishes them
                orders.append(envelope)
                parties.append(event.party)  # type: ignore[union-attr]
            elif kind in _OTHERS:
                continue
            elif kind is Position:
                positions.append(envelope)
                parties.append(event.party)  # type: ignore[union-attr]
            elif kind is Trade:
                trades.append(envelope)
                buyer, seller = event.buyer, event.seller  # type: ignore[union-attr]
                if buyer:
                    parties.append(buyer)
                if seller:
                    parties.append(seller)
            elif kind is BookSnapshot:
                snapshots.append(envelope)
            elif isinstance(event, _KINDS):  # a subclass: split it the slow way
                self._one(envelope, trades, orders, positions, snapshots, parties)
        self.trades, self.orders, self.positions = trades, orders, positions
        self.snapshots, self.parties = snapshots, parties

    @staticmethod
    def _one(
        envelope: Envelope,
        trades: list[Envelope],
        orders: list[Envelope],
        positions: list[Envelope],
        snapshots: list[Envelope],
        parties: list[str],
    ) -> None:
        event = envelope.event
        if isinstance(event, Trade):
            trades.append(envelope)
            parties.extend(p for p in (event.buyer, event.seller) if p)
        elif isinstance(event, Order | Position):
            (orders if isinstance(event, Order) else positions).append(envelope)
            parties.append(event.party)
        elif isinstance(event, BookSnapshot):
            snapshots.append(envelope)


def register(
    pipeline: Pipeline,
    derived: Derived,
    seed: Callable[[Sequence[Envelope]], None] | None,
) -> Callable[[], None]:
    """Add ``vega-seed`` (with ``seed``: it gets the book snapshots), ``parties``,
    ``live-orders``, ``open-candles`` and ``accounts`` at ``Step.DERIVE``, in that order;
    returns a function that removes them."""
    split = Split()
    ids = derived.parties.ids

    def parties(envelopes: Sequence[Envelope]) -> None:
        ids.update(dict.fromkeys(split.of(envelopes).parties))

    def accounts(envelopes: Sequence[Envelope]) -> None:
        try:
            derived.accounts(split.of(envelopes).positions)
        finally:
            split.forget()  # the last stage: a list reused for the next batch is split again

    stages: list[tuple[str, Callable[[Sequence[Envelope]], None]]] = [
        ("parties", parties),
        ("live-orders", lambda envelopes: derived.orders(split.of(envelopes).orders)),
        ("open-candles", lambda envelopes: derived.candles(split.of(envelopes).trades)),
        ("accounts", accounts),
    ]
    if seed is not None:
        stages.insert(0, ("vega-seed", lambda envelopes: seed(split.of(envelopes).snapshots)))
    removers = [pipeline.add(Step.DERIVE, name, stage) for name, stage in stages]

    def remove() -> None:
        for remover in removers:
            remover()

    return remove
