"""Fast paths of the native Update frame for the common live events: trades and book deltas.

The generic path (``protocol.NativeEncoder.update_frame``) builds the message as a dict, each
number through ``format_fixed`` and each time through ``rfc3339_ns``, and hands it to orjson.
Here a ``Trade`` or a ``BookDelta`` is written with one ``%`` format from a template made once per
market, byte for byte what the generic path gives: the same keys in the same order, strings
(stream, trade id, buyer, seller) through orjson exactly as it writes them inside the message, a
fixed-point number as ``%d.%0Nd`` of ``divmod(value, 10**N)`` (``format_fixed``'s digits for a
non-negative ``int``), the time's whole seconds formatted once per second. Anything else returns
None and the caller takes the generic path: a negative or non-``int`` value, a market with no
decimals, a checksum orjson would refuse (beyond 64 bits). Byte identity with the generic path is
pinned by ``tests/unit/dialects/test_native_updates.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from tickcast.model import BookDelta, Level, Market, MarketCatalog, Trade
from tickcast.model.timefmt import rfc3339_ns

_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1
"""The integers orjson writes (it refuses others)."""
_SECOND = 1_000_000_000


class _Templates(NamedTuple):
    """One market's templates (its decimals baked in) and scales."""

    market: Market
    trade: str
    level: str
    deleted: str
    price_scale: int
    size_scale: int


def _templates(market: Market) -> _Templates:
    price = f"%d.%0{market.price_decimals}d"
    size = f"%d.%0{market.size_decimals}d"
    trade = (
        '{"type":"Update","stream":%s,"seq":%d%s,"data":{"id":%s,'
        f'"price":"{price}","size":"{size}","side":"%s","time":"%s.%09dZ"'
    )
    return _Templates(
        market,
        trade,
        f'["{price}","{size}"]',
        f'["{price}","0"]',
        10**market.price_decimals,
        10**market.size_decimals,
    )


class FastUpdates:
    """Update frames of trades and book deltas, or None for the generic path."""

    def __init__(self, catalog: MarketCatalog, *, publish_stamps: bool) -> None:
        self._catalog = catalog
        self._stamps = publish_stamps
        self._streams: dict[str, str] = {}
        self._markets: dict[int, _Templates] = {}
        self._second = -1
        self._second_text = ""

    def _templates(self, market: Market) -> _Templates | None:
        """The market's templates, made on its first event (the catalog is asked for every
        event: an unknown market raises as on the generic path, a market defined again gets new
        templates); None for a market without decimals."""
        if not market.price_decimals or not market.size_decimals:
            return None
        found = self._markets[id(market)] = _templates(market)  # keeps ``market`` alive
        return found

    def _quote(self, stream: str) -> str:
        quoted = self._streams[stream] = orjson.dumps(stream).decode()
        return quoted

    def _head(self, stream: str, seq: int, prev: int | None) -> str:
        quoted = self._streams.get(stream) or self._quote(stream)
        if prev is None:
            return f'{{"type":"Update","stream":{quoted},"seq":{seq},'
        return f'{{"type":"Update","stream":{quoted},"seq":{seq},"prev":{prev},'

    def _tail(self, checksum: int | None, published_ns: int) -> str:
        tail = "}" if checksum is None else f'}},"checksum":{checksum}'
        if self._stamps and published_ns:
            tail += f',"t_ns":{published_ns}'
        return tail + "}"

    def trade(
        self, stream: str, seq: int, event: Trade, prev: int | None, published_ns: int
    ) -> bytes | None:
        """The Update of a trade (one call per live trade: written out inline, no helpers)."""
        price, size, time_ns = event.price, event.size, event.time_ns
        market = self._catalog.get(event.market)
        templates = self._markets.get(id(market))
        if templates is None or templates.market is not market:
            templates = self._templates(market)
        if (
            templates is None
            or type(price) is not int
            or type(size) is not int
            or type(time_ns) is not int
            or price < 0
            or size < 0
        ):
            return None
        quoted = self._streams.get(stream) or self._quote(stream)
        second, nanos = divmod(time_ns, _SECOND)
        if second != self._second:  # rfc3339_ns's text of the whole second, minus ".000000000Z"
            self._second, self._second_text = second, rfc3339_ns(second * _SECOND)[:-11]
        price_whole, price_part = divmod(price, templates.price_scale)
        size_whole, size_part = divmod(size, templates.size_scale)
        text = templates.trade % (
            quoted,
            seq,
            "" if prev is None else f',"prev":{prev}',
            orjson.dumps(event.id).decode(),
            price_whole,
            price_part,
            size_whole,
            size_part,
            event.side.value,
            self._second_text,
            nanos,
        )
        if event.buyer is not None or event.seller is not None:
            text += _parties(event)
        if self._stamps and published_ns:
            return (f'{text}}},"t_ns":{published_ns}}}').encode()
        return (text + "}}").encode()

    def book_delta(
        self,
        stream: str,
        seq: int,
        event: BookDelta,
        checksum: int | None,
        prev: int | None,
        published_ns: int,
    ) -> bytes | None:
        if checksum is not None and not (
            type(checksum) is int and _INT_MIN <= checksum <= _UINT_MAX
        ):
            return None
        market = self._catalog.get(event.market)
        templates = self._markets.get(id(market))
        if templates is None or templates.market is not market:
            templates = self._templates(market)
        if templates is None:
            return None
        asks = _levels(event.asks, templates)
        bids = _levels(event.bids, templates)
        if asks is None or bids is None:
            return None
        data = f'"data":{{"asks":[{asks}],"bids":[{bids}]'
        return (self._head(stream, seq, prev) + data + self._tail(checksum, published_ns)).encode()


def _parties(event: Trade) -> str:
    """A trade's ``buyer`` and ``seller`` keys, when it has them (simulated trades)."""
    text = "" if event.buyer is None else ',"buyer":' + orjson.dumps(event.buyer).decode()
    if event.seller is not None:
        text += ',"seller":' + orjson.dumps(event.seller).decode()
    return text


def _levels(levels: tuple[Level, ...], templates: _Templates) -> str | None:
    """The levels as the generic path writes them (a deleted level's size is ``"0"``)."""
    parts = []
    price_scale, size_scale = templates.price_scale, templates.size_scale
    for price, size in levels:
        if type(price) is not int or type(size) is not int or price < 0 or size < 0:
            return None
        if size:
            parts.append(templates.level % (*divmod(price, price_scale), *divmod(size, size_scale)))
        else:
            parts.append(templates.deleted % divmod(price, price_scale))
    return ",".join(parts)
