"""VegaState: the dialect's view of the simulated exchange, and its per-block batches.

Fed synchronously with every envelope of the bus (``apply``), it keeps what the snapshots need
(live orders, positions, accounts, books, open candles) and the block's encoded items of the
streams someone listens to (``collect``). ``flush(block_ns)`` closes a block: it returns a
:class:`Block` whose items each subscriber filters (``Block.lines``). Every item is encoded once
and its bytes shared; a block's lines for one filter are built once (``Block.lines`` caches).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field

from tickcast.book import OrderBook
from tickcast.dialects.vega.wire import encode, errors, jsonpb
from tickcast.dialects.vega.wire.accounts import AccountModel, to_asset
from tickcast.dialects.vega.wire.candles import CandleBook
from tickcast.dialects.vega.wire.depth import DepthSequencer
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.dialects.vega.wire.ids import asset_hex, market_hex, parse_candle_id
from tickcast.dialects.vega.wire.paging import snapshot_lines, update_lines
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Trade,
)

_LIVE = (OrderStatus.ACTIVE, OrderStatus.PARTIALLY_FILLED)
ALL_STREAMS: frozenset[StreamName] = frozenset(StreamName)

Collect = bool | Set[StreamName]
"""Which streams' items to build: True (all), False (none) or the streams someone listens to."""


def _wanted(collect: Collect) -> Set[StreamName]:
    if collect is True:
        return ALL_STREAMS
    if collect is False:
        return frozenset()
    return collect


@dataclass(frozen=True, slots=True)
class Item:
    """One encoded message item and what filters look at."""

    index: int
    """Position in the state's event order: a subscriber gets items past its join index."""
    data: bytes
    market: str = ""
    """Vega market id."""
    parties: tuple[str, ...] = ()
    asset: str = ""
    account_type: int = 0
    key: str = ""
    """Candle id of candle items."""


def matches(selection: Filter, item: Item) -> bool:
    if selection.markets and item.market not in selection.markets:
        return False
    if selection.parties and not selection.parties.intersection(item.parties):
        return False
    if selection.asset and item.asset != selection.asset:
        return False
    if selection.account_type and item.account_type != selection.account_type:
        return False
    return not selection.candle_id or item.key == selection.candle_id


@dataclass(slots=True)
class Block:
    """The items of one block per stream."""

    time_ns: int
    items: dict[StreamName, list[Item]]
    _cache: dict[tuple[Filter, int], list[bytes]] = field(default_factory=dict)

    def lines(self, selection: Filter, joined: int) -> list[bytes]:
        """The block's lines for a subscriber (``joined``: its join index)."""
        items = self.items.get(selection.stream)
        if not items:
            return []
        if items[0].index <= joined:
            joined_key = joined
        else:
            joined_key = -1  # every item is new for this subscriber: share the lines
        cached = self._cache.get((selection, joined_key))
        if cached is None:
            chosen = [
                item.data for item in items if item.index > joined and matches(selection, item)
            ]
            cached = self._cache[(selection, joined_key)] = update_lines(selection.stream, chosen)
        return cached


class VegaState:
    def __init__(self, markets: Iterable[Market], parties: Iterable[str]) -> None:
        self._markets: dict[str, Market] = {}
        self.by_hex: dict[str, Market] = {}
        for market in markets:
            self.add_market(market)
        self.parties: dict[str, None] = dict.fromkeys(parties)
        assets = sorted({market.quote for market in self._markets.values()})
        self.accounts = AccountModel(list(self.parties), assets)
        self._orders: dict[tuple[str, str], Order] = {}
        self._counts: dict[tuple[str, Side, int], int] = {}
        self._positions: dict[tuple[str, str], Position] = {}
        self._books: dict[str, OrderBook] = {}
        self._last_price: dict[str, int] = {}
        self._open_volume: dict[tuple[str, str], int] = {}
        self._changed_markets: dict[str, None] = {}
        self._changed_books: dict[str, None] = {}
        self.candles = CandleBook()
        self.depth = DepthSequencer()
        self._counter = itertools.count(1)
        self.index = 0
        """Index of the last item created (a new subscriber's join index)."""
        self._pending: dict[StreamName, list[Item]] = {}

    def seed_orders(self, orders: Iterable[Order]) -> None:
        """Live orders that exist without having been published (the simulator's seeded
        books): part of later snapshots, never sent as updates."""
        for order in orders:
            if order.market in self._markets:
                self._track(order)

    def _track(self, order: Order) -> None:
        """Keep the live order (or forget it) and the live-order count of its level."""
        key = (order.market, order.id)
        old = self._orders.pop(key, None)
        if old is not None:
            level = (old.market, old.side, old.price)
            left = self._counts.get(level, 0) - 1
            if left > 0:
                self._counts[level] = left
            else:
                self._counts.pop(level, None)
        if order.status in _LIVE and order.type is OrderType.LIMIT:
            self._orders[key] = order
            level = (order.market, order.side, order.price)
            self._counts[level] = self._counts.get(level, 0) + 1

    def order_count(self, market_id: str) -> encode.OrderCount:
        """Live orders at a level of ``market_id`` (numberOfOrders)."""

        def count(side: Side, price: int) -> int:
            return self._counts.get((market_id, side, price), 0)

        return count

    def add_market(self, market: Market) -> None:
        self._markets[market.id] = market
        self.by_hex[market_hex(market.id)] = market

    # -- feeding -----------------------------------------------------------------------------

    def apply(self, envelopes: Sequence[Envelope], *, collect: Collect) -> None:
        wanted = _wanted(collect)
        for envelope in envelopes:
            event = envelope.event
            match event:
                case Trade():
                    self._trade(event, StreamName.TRADES in wanted)
                case Order():
                    self._order(event, StreamName.ORDERS in wanted)
                case Position():
                    self._position(event, wanted)
                case BookSnapshot():
                    book = self._books.setdefault(event.market, OrderBook())
                    book.apply_snapshot(event.bids, event.asks)
                    self.depth.changed(event.market, event.bids, event.asks)
                    self._changed_books[event.market] = None
                    self._changed_markets[event.market] = None
                case BookDelta():
                    book = self._books.setdefault(event.market, OrderBook())
                    book.apply_delta(event.bids, event.asks)
                    self.depth.changed(event.market, event.bids, event.asks)
                    self._changed_books[event.market] = None
                    self._changed_markets[event.market] = None

    def _add(
        self,
        stream: StreamName,
        message: jsonpb.Message,
        *,
        market: str,
        parties: tuple[str, ...],
        asset: str = "",
        account_type: int = 0,
    ) -> None:
        self.index = next(self._counter)
        data = jsonpb.dumps(jsonpb.stream(message))
        item = Item(self.index, data, market, parties, asset, account_type)
        self._pending.setdefault(stream, []).append(item)

    def _trade(self, trade: Trade, collect: bool) -> None:
        market = self._markets.get(trade.market)
        if market is None:
            return
        self._last_price[market.id] = trade.price
        self._changed_markets[market.id] = None
        self.candles.on_trade(market, trade)
        parties = tuple(p for p in (trade.buyer, trade.seller) if p)
        for party in parties:
            self.parties.setdefault(party)
        if collect:
            self._add(
                StreamName.TRADES,
                encode.trade(market, trade),
                market=market_hex(market.id),
                parties=parties,
            )

    def _order(self, order: Order, collect: bool) -> None:
        market = self._markets.get(order.market)
        if market is None:
            return
        self.parties.setdefault(order.party)
        self._track(order)
        if collect:
            self._add(
                StreamName.ORDERS,
                encode.order(market, order),
                market=market_hex(market.id),
                parties=(order.party,),
            )

    def _position_message(self, market: Market, event: Position) -> bytes:
        message = encode.position(
            market,
            event,
            realised=to_asset(event.realised_pnl, market),
            unrealised=to_asset(event.unrealised_pnl, market),
        )
        return jsonpb.dumps(jsonpb.stream(message))

    def _position(self, event: Position, wanted: Set[StreamName]) -> None:
        market = self._markets.get(event.market)
        if market is None:
            return
        self.parties.setdefault(event.party)
        key = (event.market, event.party)
        self._positions[key] = event
        self._open_volume[key] = event.open_volume
        self._changed_markets[market.id] = None
        update = self.accounts.apply(market, event)
        hex_id = market_hex(market.id)
        parties = (event.party,)
        if StreamName.POSITIONS in wanted:
            self.index = next(self._counter)
            data = self._position_message(market, event)
            self._pending.setdefault(StreamName.POSITIONS, []).append(
                Item(self.index, data, market=hex_id, parties=parties)
            )
        if StreamName.MARGIN_LEVELS in wanted:
            self._add(
                StreamName.MARGIN_LEVELS, update.margin_levels, market=hex_id, parties=parties
            )
        if StreamName.ACCOUNTS in wanted:
            for account in update.accounts:
                self._add(
                    StreamName.ACCOUNTS,
                    account.message(),
                    market=market_hex(account.market) if account.market else "",
                    parties=(account.owner,),
                    asset=asset_hex(account.asset),
                    account_type=account.type.value,
                )
        if update.ledger is not None and StreamName.LEDGER in wanted:
            self._add(StreamName.LEDGER, update.ledger, market=hex_id, parties=parties)

    # -- blocks ------------------------------------------------------------------------------

    def flush(self, block_ns: int, *, collect: Collect) -> Block:
        """Close the current block; build the items of the ``collect`` streams only."""
        wanted = _wanted(collect)
        items, self._pending = self._pending, {}
        changes = self.depth.flush(block_ns)
        candles = self.candles.flush()
        changed_books, self._changed_books = self._changed_books, {}
        changed_markets, self._changed_markets = self._changed_markets, {}
        if not wanted:
            return Block(block_ns, {})
        for change in changes if StreamName.DEPTH_UPDATES in wanted else ():
            market = self._markets.get(change.market)
            if market is None:
                continue
            message = encode.market_depth_update(
                market,
                change.bids,
                change.asks,
                change.sequence,
                change.previous,
                self.order_count(market.id),
            )
            self._item(items, StreamName.DEPTH_UPDATES, message, market=market_hex(market.id))
        for market_id in changed_books if StreamName.MARKETS_DEPTH in wanted else ():
            market = self._markets.get(market_id)
            if market is not None:
                self._item(
                    items,
                    StreamName.MARKETS_DEPTH,
                    self.depth_message(market),
                    market=market_hex(market.id),
                )
        for market_id in changed_markets if StreamName.MARKETS_DATA in wanted else ():
            market = self._markets.get(market_id)
            if market is not None:
                self._item(
                    items,
                    StreamName.MARKETS_DATA,
                    self.market_data(market, block_ns),
                    market=market_hex(market.id),
                )
        for key, candle in candles if StreamName.CANDLES in wanted else ():
            self._item(items, StreamName.CANDLES, candle.message(), key=key)
        return Block(block_ns, items)

    def _item(
        self,
        items: dict[StreamName, list[Item]],
        stream: StreamName,
        message: jsonpb.Message,
        *,
        market: str = "",
        key: str = "",
    ) -> None:
        self.index = next(self._counter)
        data = jsonpb.dumps(jsonpb.stream(message))
        items.setdefault(stream, []).append(Item(self.index, data, market=market, key=key))

    # -- snapshots and lookups ---------------------------------------------------------------

    def depth_message(self, market: Market) -> jsonpb.Message:
        bids, asks = self._book(market.id).top()
        sequence = self.depth.last_sequence(market.id)
        return encode.market_depth(market, bids, asks, sequence, self.order_count(market.id))

    def _book(self, market_id: str) -> OrderBook:
        return self._books.get(market_id) or OrderBook()

    def book(self, market_id: str) -> OrderBook:
        """The market's current book (empty if none was published)."""
        return self._book(market_id)

    def market_data(self, market: Market, time_ns: int) -> jsonpb.Message:
        bids, asks = self._book(market.id).top(1)
        interest = sum(
            volume
            for (market_id, _), volume in self._open_volume.items()
            if market_id == market.id and volume > 0
        )
        return encode.market_data(
            market,
            best_bid=bids[0] if bids else None,
            best_ask=asks[0] if asks else None,
            last_price=self._last_price.get(market.id, 0),
            open_interest=interest,
            time_ns=time_ns,
        )

    def last_price(self, market_id: str) -> int:
        return self._last_price.get(market_id, 0)

    def snapshot(self, selection: Filter) -> list[bytes]:
        """The snapshot pages of a snapshot stream (orders: live only, newest first)."""
        items: list[bytes] = []
        wanted_markets = {self.by_hex[m].id for m in selection.markets if m in self.by_hex}
        parties = selection.parties

        def selected(market_id: str, party: str) -> bool:
            if selection.markets and market_id not in wanted_markets:
                return False
            return not parties or party in parties

        match selection.stream:
            case StreamName.ORDERS:
                live = [o for (mid, _), o in self._orders.items() if selected(mid, o.party)]
                live.sort(key=lambda o: (o.created_ns, o.id), reverse=True)
                items = [
                    jsonpb.dumps(jsonpb.stream(encode.order(self._markets[o.market], o)))
                    for o in live
                ]
            case StreamName.POSITIONS:
                items = [
                    self._position_message(self._markets[mid], position)
                    for (mid, party), position in self._positions.items()
                    if selected(mid, party)
                ]
            case StreamName.ACCOUNTS:
                for account in self.accounts.accounts(self._markets):
                    if account.market and not selected(account.market, account.owner):
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
            case _:
                return []
        return snapshot_lines(selection.stream, items)

    def unknown(self, selection: Filter) -> bytes | None:
        """The NotFound line for unknown market, party or candle ids, else None."""
        for market in sorted(selection.markets):
            if market not in self.by_hex:
                return errors.not_found("market not found", f"no market found for id: {market}")
        for party in sorted(selection.parties):
            if party not in self.parties:
                return errors.not_found("party not found", f"no party found for id: {party}")
        if selection.candle_id:
            parsed = parse_candle_id(selection.candle_id)
            if parsed is None or parsed[1] not in self.by_hex:
                return errors.not_found(
                    "candle not found", f"no candle for id: {selection.candle_id}"
                )
        return None
