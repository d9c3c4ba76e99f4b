"""The derived state the Vega dialect reads, as named pipeline stages at ``Step.DERIVE``. Pure.

Books, open orders and positions come from the node's :class:`~tickcast.state.keeper.StateKeeper`
(folded at ``Step.DELIVER``); on top of it:

=================  ==============================================================  ============
stage              what it keeps                                                    cost/event
=================  ==============================================================  ============
``parties``        every party id seen (the simulated ones, then buyers, sellers,   a set add
                   order and position owners): ids the streams accept
``live-orders``    orders that exist without having been published (seeded books)   none once
                                                                                    they are gone
``open-candles``   each market's open candles and last traded price                 one candle
``accounts``       balances, margins, ledger movements (only while a stream needs   none while
                   them: rebuilt from the keeper's positions on ``activate``)       inactive
=================  ==============================================================  ============
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tickcast.model import Envelope, Market, Order, Position, Trade
from tickcast.state.accounts import Accounts
from tickcast.state.candles import OpenCandles
from tickcast.state.keeper import StateKeeper
from tickcast.state.orders import LiveOrders
from tickcast.state.pipeline import Pipeline, Step


class Parties:
    """Every party id seen, simulated ones first (insertion order)."""

    def __init__(self, parties: Iterable[str]) -> None:
        self.ids: dict[str, None] = dict.fromkeys(parties)

    def __contains__(self, party: object) -> bool:
        return party in self.ids

    def __call__(self, envelopes: Sequence[Envelope]) -> None:
        ids = self.ids
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, Trade):
                if event.buyer and event.buyer not in ids:
                    ids[event.buyer] = None
                if event.seller and event.seller not in ids:
                    ids[event.seller] = None
            elif isinstance(event, Order | Position) and event.party not in ids:
                ids[event.party] = None


class Derived:
    """The stages over one keeper; ``markets`` by tickcast id (markets added later are seen)."""

    def __init__(
        self,
        keeper: StateKeeper,
        markets: dict[str, Market],
        parties: Iterable[str],
        intervals: Sequence[int],
    ) -> None:
        self.keeper = keeper
        self.markets = markets
        self.parties = Parties(parties)
        self.orders = LiveOrders(keeper)
        self.candles = OpenCandles(markets.values(), intervals)
        self.accounts = Accounts(keeper, markets, self.parties.ids)

    def add_market(self, market: Market) -> None:
        self.markets[market.id] = market
        self.candles.add_market(market)

    def stages(self) -> list[tuple[str, Callable[[Sequence[Envelope]], None]]]:
        """(name, stage) in the order they run."""
        return [
            ("parties", self.parties),
            ("live-orders", self.orders),
            ("open-candles", self.candles),
            ("accounts", self.accounts),
        ]

    def register(self, pipeline: Pipeline) -> Callable[[], None]:
        """Run the stages at ``Step.DERIVE``; returns a function that removes them."""
        removers = [pipeline.add(Step.DERIVE, name, stage) for name, stage in self.stages()]

        def remove() -> None:
            for remover in removers:
                remover()

        return remove

    def run(self, envelopes: Sequence[Envelope]) -> None:
        """Without a pipeline (tests, benchmarks): the keeper, then every stage."""
        self.keeper.apply_all(envelopes)
        for _, stage in self.stages():
            stage(envelopes)
