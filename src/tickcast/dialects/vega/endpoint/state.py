"""VegaState: the Vega dialect's view of the node's state, and its per-block batches. Sans-I/O.

It keeps no market state of its own. Books, open orders and positions are read from the node's
:class:`~tickcast.state.keeper.StateKeeper`; parties, seeded orders, open candles and accounts
from the ``Step.DERIVE`` stages of :class:`~tickcast.state.derived.Derived`. What it adds is
delivery: ``collect`` (the feed's ``Step.OBSERVE`` stage) encodes each event's items for the
streams somebody listens to, once, into the block being built (``Pending``); ``flush(block_ns)``
closes the block (depth updates, whole depths, market data and candles of what changed) and
returns a :class:`~tickcast.dialects.vega.wire.blocks.Block` whose lines each subscriber filters.
Snapshots (``snapshot``) are encoded on demand from the same state.

Built without a ``Derived`` (tests, benchmarks) it owns a keeper and the stages and runs them
itself in ``apply``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Set

from tickcast.book import OrderBook
from tickcast.dialects.vega.wire import encode, errors, jsonpb
from tickcast.dialects.vega.wire.accounts import AccountUpdate, to_asset
from tickcast.dialects.vega.wire.blocks import Block, Collect, Pending, wanted
from tickcast.dialects.vega.wire.candles import INTERVAL_SECONDS, candle
from tickcast.dialects.vega.wire.depth import DepthSequencer
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.dialects.vega.wire.ids import (
    CANDLE_INTERVALS,
    asset_hex,
    candle_id,
    market_hex,
    parse_candle_id,
)
from tickcast.dialects.vega.wire.paging import snapshot_lines
from tickcast.errors import UnknownId
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Market,
    Order,
    Position,
    StreamKey,
    StreamKind,
    Trade,
)
from tickcast.state.derived import Derived
from tickcast.state.keeper import StateKeeper

_WATCHED = (StreamKind.BOOK, StreamKind.TRADES, StreamKind.POSITIONS)
"""The streams whose moves change a market's data (the book first)."""

ACCOUNT_STREAMS = frozenset({StreamName.ACCOUNTS, StreamName.MARGIN_LEVELS, StreamName.LEDGER})
"""The streams that need the account model (``Accounts`` runs only while one is subscribed)."""


class VegaState:
    def __init__(
        self, markets: Iterable[Market], parties: Iterable[str], *, derived: Derived | None = None
    ) -> None:
        self._own = derived is None
        if derived is None:
            catalog = {market.id: market for market in markets}
            derived = Derived(StateKeeper(), catalog, parties, INTERVAL_SECONDS)
            derived.accounts.activate()
        self.derived = derived
        self._keeper = derived.keeper
        self._markets = derived.markets
        self.by_hex: dict[str, Market] = {market_hex(m.id): m for m in self._markets.values()}
        self.depth = DepthSequencer()
        self._pending = Pending()
        self._names: dict[str, tuple[str, ...]] = {}
        """Per market: its book, trades and positions stream names."""
        self._seen: dict[str, object] = {}
        """Per book, trades and positions stream: the keeper's position at the last flush."""
        self._depth_tracked = True
        """Every batch since the last flush had its book levels tracked (depth updates)."""

    @property
    def index(self) -> int:
        """Index of the last item created (a new subscriber's join index)."""
        return self._pending.index

    @property
    def parties(self) -> dict[str, None]:
        return self.derived.parties.ids

    def add_market(self, market: Market) -> None:
        self.derived.add_market(market)
        self.by_hex[market_hex(market.id)] = market

    def seed_orders(self, orders: Iterable[Order]) -> None:
        """Live orders that exist without having been published (the simulator's seeded
        books): part of later snapshots, never sent as updates."""
        self.derived.orders.seed(o for o in orders if o.market in self._markets)

    def need(self, streams: Set[StreamName]) -> None:
        """The streams somebody listens to: the account model runs only while one needs it."""
        if streams & ACCOUNT_STREAMS:
            self.derived.accounts.activate()
        elif not self._own:
            self.derived.accounts.deactivate()

    # -- feeding -----------------------------------------------------------------------------

    def apply(self, envelopes: Sequence[Envelope], *, collect: Collect) -> None:
        """Standalone: run the keeper and the stages first; then ``collect``."""
        if self._own:
            self.derived.run(envelopes)
        self.collect(envelopes, collect=collect)

    def collect(self, envelopes: Sequence[Envelope], *, collect: Collect) -> None:
        """Encode the items of the ``collect`` streams into the current block. Nothing else is
        done per event: which markets changed is read from the keeper when the block closes."""
        streams = wanted(collect)
        if StreamName.DEPTH_UPDATES not in streams:
            self._depth_tracked = False
        if not streams:
            return
        updates = iter(self.derived.accounts.updates if self.derived.accounts.active else ())
        add = self._pending.add_encoded
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, BookDelta | BookSnapshot):
                if StreamName.DEPTH_UPDATES in streams:
                    self.depth.changed(event.market, event.bids, event.asks)
                continue
            if not isinstance(event, Trade | Order | Position):
                continue
            market = self._markets.get(event.market)
            if market is None:
                continue
            if isinstance(event, Trade):
                if StreamName.TRADES in streams:
                    parties = tuple(p for p in (event.buyer, event.seller) if p)
                    data = encode.trade_item(market, event)  # = the generic rendering, faster
                    add(StreamName.TRADES, data, market_hex(market.id), parties)
            elif isinstance(event, Order):
                if StreamName.ORDERS in streams:
                    message = encode.order(market, event)
                    self._add(StreamName.ORDERS, message, market, (event.party,))
            else:
                self._position(market, event, streams, updates)

    def _changes(self) -> tuple[list[str], list[str]]:
        """Markets whose book changed, and markets whose data changed (book, trades or positions),
        since the last call, in catalog order: the keeper's stream positions moved."""
        books: list[str] = []
        data: list[str] = []
        position, seen = self._keeper.position, self._seen
        for market_id in self._markets:
            names = self._names.get(market_id)
            if names is None:
                names = self._names[market_id] = tuple(
                    str(StreamKey(kind, market_id)) for kind in _WATCHED
                )
            moved = False
            for stream in names:
                now = position(stream)
                if now is not seen.get(stream):
                    seen[stream] = now
                    moved = True
                    if stream is names[0]:
                        books.append(market_id)
            if moved:
                data.append(market_id)
        return books, data

    def _add(
        self,
        stream: StreamName,
        message: jsonpb.Message,
        market: Market,
        parties: tuple[str, ...],
    ) -> None:
        self._pending.add(stream, message, market=market_hex(market.id), parties=parties)

    def _position(
        self,
        market: Market,
        event: Position,
        streams: Set[StreamName],
        updates: Iterator[AccountUpdate],
    ) -> None:
        parties = (event.party,)
        if StreamName.POSITIONS in streams:
            self._add(StreamName.POSITIONS, self._position_message(market, event), market, parties)
        update = next(updates, None) if self.derived.accounts.active else None
        if update is None:
            return
        if StreamName.MARGIN_LEVELS in streams:
            self._add(StreamName.MARGIN_LEVELS, update.margin_levels, market, parties)
        if StreamName.ACCOUNTS in streams:
            for account in update.accounts:
                self._pending.add(
                    StreamName.ACCOUNTS,
                    account.message(),
                    market=market_hex(account.market) if account.market else "",
                    parties=(account.owner,),
                    asset=asset_hex(account.asset),
                    account_type=account.type.value,
                )
        ledger = update.ledger
        if ledger is not None and StreamName.LEDGER in streams:
            self._add(StreamName.LEDGER, ledger, market, parties)

    @staticmethod
    def _position_message(market: Market, event: Position) -> jsonpb.Message:
        return encode.position(
            market,
            event,
            realised=to_asset(event.realised_pnl, market),
            unrealised=to_asset(event.unrealised_pnl, market),
        )

    # -- blocks ------------------------------------------------------------------------------

    def flush(self, block_ns: int, *, collect: Collect) -> Block:
        """Close the current block; build the items of the ``collect`` streams only."""
        streams = wanted(collect)
        changed_books, changed_markets = self._changes()
        if not self._depth_tracked:  # their levels went by untracked: the sequence moves on
            for market_id in changed_books:
                self.depth.touch(market_id)
        self._depth_tracked = True
        changes = self.depth.flush(block_ns)
        traded = self.derived.candles.flush()
        pending = self._pending
        if not streams:
            pending.close(block_ns)
            return Block(block_ns, {})
        for change in changes if StreamName.DEPTH_UPDATES in streams else ():
            market = self._markets.get(change.market)
            if market is not None:
                message = encode.market_depth_update(
                    market,
                    change.bids,
                    change.asks,
                    change.sequence,
                    change.previous,
                    self.order_count(market.id),
                )
                pending.add(StreamName.DEPTH_UPDATES, message, market=market_hex(market.id))
        self._whole(StreamName.MARKETS_DEPTH, changed_books, streams, block_ns)
        self._whole(StreamName.MARKETS_DATA, changed_markets, streams, block_ns)
        for market_id in traded if StreamName.CANDLES in streams else ():
            hex_id = market_hex(market_id)
            for interval, (_, seconds) in CANDLE_INTERVALS.items():
                open_candle = self.derived.candles.open(market_id, seconds)
                if open_candle is not None:
                    key = candle_id(interval, hex_id)
                    pending.add(StreamName.CANDLES, candle(open_candle), key=key)
        return pending.close(block_ns)

    def _whole(
        self, stream: StreamName, changed: Iterable[str], streams: Set[StreamName], block_ns: int
    ) -> None:
        """A whole depth or market data item per changed market."""
        if stream not in streams:
            return
        for market_id in changed:
            market = self._markets.get(market_id)
            if market is None:
                continue
            if stream is StreamName.MARKETS_DEPTH:
                message = self.depth_message(market)
            else:
                message = self.market_data(market, block_ns)
            self._pending.add(stream, message, market=market_hex(market.id))

    # -- snapshots and lookups ---------------------------------------------------------------

    def order_count(self, market_id: str) -> encode.OrderCount:
        """Live orders at a level of ``market_id`` (numberOfOrders)."""
        counts = self.derived.orders.counts(market_id)
        return lambda side, price: counts.get((side, price), 0)

    def book(self, market_id: str) -> OrderBook:
        """The market's current book (empty if none was published)."""
        return self._keeper.book(str(StreamKey(StreamKind.BOOK, market_id))) or OrderBook()

    def depth_message(self, market: Market) -> jsonpb.Message:
        bids, asks = self.book(market.id).top()
        sequence = self.depth.last_sequence(market.id)
        return encode.market_depth(market, bids, asks, sequence, self.order_count(market.id))

    def _positions(self, market_id: str) -> list[Position]:
        snapshot = self._keeper.snapshot(str(StreamKey(StreamKind.POSITIONS, market_id)))
        events = snapshot.events if snapshot is not None else ()
        return [event for event in events if isinstance(event, Position)]

    def market_data(self, market: Market, time_ns: int) -> jsonpb.Message:
        bids, asks = self.book(market.id).top(1)
        interest = sum(p.open_volume for p in self._positions(market.id) if p.open_volume > 0)
        return encode.market_data(
            market,
            best_bid=bids[0] if bids else None,
            best_ask=asks[0] if asks else None,
            last_price=self.last_price(market.id),
            open_interest=interest,
            time_ns=time_ns,
        )

    def last_price(self, market_id: str) -> int:
        return self.derived.candles.last_price(market_id)

    def snapshot(self, selection: Filter) -> list[bytes]:
        """The snapshot pages of a snapshot stream (orders: live only, newest first)."""
        match selection.stream:
            case StreamName.ORDERS:
                items = self._orders_snapshot(selection)
            case StreamName.POSITIONS:
                items = [
                    jsonpb.dumps(jsonpb.stream(self._position_message(market, position)))
                    for market in self._selected_markets(selection)
                    for position in self._positions(market.id)
                    if not selection.parties or position.party in selection.parties
                ]
            case StreamName.ACCOUNTS:
                items = self._accounts_snapshot(selection)
            case _:
                return []
        return snapshot_lines(selection.stream, items)

    def _selected_markets(self, selection: Filter) -> list[Market]:
        if not selection.markets:
            return list(self._markets.values())
        return [m for h, m in self.by_hex.items() if h in selection.markets]

    def _orders_snapshot(self, selection: Filter) -> list[bytes]:
        parties = selection.parties
        live = [
            order
            for market in self._selected_markets(selection)
            for order in self.derived.orders.orders(market.id)
            if not parties or order.party in parties
        ]
        live.sort(key=lambda o: (o.created_ns, o.id), reverse=True)
        return [jsonpb.dumps(jsonpb.stream(encode.order(self._markets[o.market], o))) for o in live]

    def _accounts_snapshot(self, selection: Filter) -> list[bytes]:
        parties = selection.parties
        wanted_markets = {m.id for m in self._selected_markets(selection)}
        items = []
        for account in self.derived.accounts.accounts():
            if account.market and (
                (selection.markets and account.market not in wanted_markets)
                or (parties and account.owner not in parties)
            ):
                continue
            if not account.market and (
                selection.markets or (parties and account.owner not in parties)
            ):
                continue
            if selection.asset and asset_hex(account.asset) != selection.asset:
                continue
            if selection.account_type and account.type.value != selection.account_type:
                continue
            items.append(jsonpb.dumps(jsonpb.stream(account.message())))
        return items

    def unknown(self, selection: Filter) -> bytes | None:
        """The NotFound line for unknown market, party or candle ids, else None."""
        error = self.unknown_id(selection)
        return None if error is None else errors.not_found(error.message, error.inner)

    def unknown_id(self, selection: Filter) -> UnknownId | None:
        """The first unknown market, party or candle id of ``selection`` as an error (its line
        is the refusal table's Vega cell), else None."""
        for market in sorted(selection.markets):
            if market not in self.by_hex:
                return UnknownId("market not found", inner=f"no market found for id: {market}")
        for party in sorted(selection.parties):
            if party not in self.parties:
                return UnknownId("party not found", inner=f"no party found for id: {party}")
        if selection.candle_id:
            parsed = parse_candle_id(selection.candle_id)
            if parsed is None or parsed[1] not in self.by_hex:
                inner = f"no candle for id: {selection.candle_id}"
                return UnknownId("candle not found", inner=inner)
        return None
