"""A block's encoded items per stream, and each subscriber's lines of it. Pure.

Vega delivers per block: the items of the streams somebody listens to are encoded once as their
events go by (``Pending.add``), and closing a block yields a :class:`Block` whose lines each
subscriber takes for its filter (``Block.lines``): every item is encoded once and its bytes
shared; a block's lines for one filter are built once (cached).
"""

from __future__ import annotations

import itertools
from collections.abc import Set
from dataclasses import dataclass, field

from tickcast.dialects.vega.wire import jsonpb
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.dialects.vega.wire.paging import update_lines

ALL_STREAMS: frozenset[StreamName] = frozenset(StreamName)

Collect = bool | Set[StreamName]
"""Which streams' items to build: True (all), False (none) or the streams someone listens to."""


def wanted(collect: Collect) -> Set[StreamName]:
    if collect is True:
        return ALL_STREAMS
    if collect is False:
        return frozenset()
    return collect


@dataclass(frozen=True, slots=True)
class Item:
    """One encoded message item and what filters look at."""

    index: int
    """Position in the event order: a subscriber gets items past its join index."""
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


class Pending:
    """The current block's items, numbered in event order."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.index = 0
        """Index of the last item created (a new subscriber's join index)."""
        self.items: dict[StreamName, list[Item]] = {}

    def add(
        self,
        stream: StreamName,
        message: jsonpb.Message,
        *,
        market: str = "",
        parties: tuple[str, ...] = (),
        asset: str = "",
        account_type: int = 0,
        key: str = "",
    ) -> None:
        """Encode ``message`` once as the next item of ``stream``."""
        self.index = next(self._counter)
        data = jsonpb.dumps(jsonpb.stream(message))
        item = Item(self.index, data, market, parties, asset, account_type, key)
        self.items.setdefault(stream, []).append(item)

    def add_encoded(
        self, stream: StreamName, data: bytes, market: str, parties: tuple[str, ...]
    ) -> None:
        """The next item of ``stream``, already encoded (``encode.trade_item``)."""
        self.index = index = next(self._counter)
        items = self.items.get(stream)
        if items is None:
            items = self.items[stream] = []
        items.append(Item(index, data, market, parties))

    def close(self, time_ns: int) -> Block:
        """The block of everything added since the last close."""
        items, self.items = self.items, {}
        return Block(time_ns, items)
