"""Sans-I/O pieces the venue feeds (Bybit, OKX, Kraken, Coinbase) share.

Each venue module keeps its wire format and its venue's rules; what is the same logic lives here:
instrument parsing helpers, the quote from the top of a book, the reset snapshot + ``Resynced``
of a break, silence detection, the guard around an unreadable frame, per-market trade-id
tracking with ``TradesLost``, and the batching of events around a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tickcast.book.orderbook import OrderBook
from tickcast.model.events import BookSnapshot, Event, Quote
from tickcast.model.markets import Market, parse_market_id
from tickcast.sources.connectors.protocol import Command, Publish, Reconnect, Resynced, TradesLost

# -- instruments and numbers ------------------------------------------------------------------


def step_decimals(text: str) -> int:
    """Decimals of a step such as ``0.001`` (``1`` and ``10`` have none)."""
    exponent = Decimal(text).normalize().as_tuple().exponent
    return max(-int(exponent), 0)


def valid_market_id(market_id: str) -> bool:
    """Whether tickcast can name this market (``parse_market_id`` accepts it)."""
    try:
        parse_market_id(market_id)
    except ValueError:
        return False
    return True


def rounded(value: Any, decimals: int) -> int:
    """A number that may be finer than ``decimals`` (a statistic), rounded half up, scaled."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    quantum = Decimal(1).scaleb(-decimals)
    return int(exact.quantize(quantum, rounding=ROUND_HALF_UP).scaleb(decimals))


def rfc3339_ns(text: str) -> int:
    """``2023-02-09T20:32:50.714964855Z`` (any number of fraction digits) in UTC nanoseconds."""
    head, _, tail = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int(tail[:9].ljust(9, "0") if tail else "0")


# -- commands ---------------------------------------------------------------------------------


def published(events: Sequence[Event]) -> list[Command]:
    """``Publish`` of ``events``, or nothing when there are none."""
    return [Publish(tuple(events))] if events else []


def guarded(
    venue: str,
    receive: Callable[[str | bytes, int], Sequence[Command]],
    data: str | bytes,
    recv_ns: int,
) -> Sequence[Command]:
    """``receive(data, recv_ns)``, an unreadable frame a ``Reconnect``: a frame we cannot read
    may have been a book update, so never guess, start over."""
    try:
        return receive(data, recv_ns)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as error:
        return [Reconnect(f"unreadable {venue} message ({type(error).__name__}: {error})")]


def reset_books(
    markets: Iterable[Market], reason: str, time_ns: int, events: Sequence[Event] = ()
) -> list[Command]:
    """After a break: ``events``, then an empty snapshot of each market, then its ``Resynced``."""
    broken = list(markets)
    resets = [*events, *(BookSnapshot(market.id, (), (), time_ns) for market in broken)]
    return published(resets) + [Resynced(market.id, reason) for market in broken]


# -- quotes -----------------------------------------------------------------------------------


class Quotes:
    """The last quote of each book: a ``Quote`` is published when the top of the book changes."""

    __slots__ = ("_tops",)

    def __init__(self) -> None:
        self._tops: dict[str, tuple[int, int, int, int]] = {}

    def update(self, key: str, book: OrderBook, market: Market, time_ns: int) -> list[Event]:
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return []
        top = (bid[0], bid[1], ask[0], ask[1])
        if self._tops.get(key) == top:
            return []
        self._tops[key] = top
        return [Quote(market.id, *top, time_ns)]

    def forget(self, key: str) -> None:
        self._tops.pop(key, None)

    def clear(self) -> None:
        self._tops.clear()


# -- silence ----------------------------------------------------------------------------------


class Silence:
    """When the connection last spoke; a connection silent too long must be reconnected."""

    __slots__ = ("last_recv_ns", "venue")

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.last_recv_ns: int | None = None

    def heard(self, recv_ns: int) -> None:
        self.last_recv_ns = recv_ns

    def forget(self) -> None:
        self.last_recv_ns = None

    def silent_ns(self, now_ns: int) -> int:
        """How long the connection has been silent (the first check starts the clock)."""
        if self.last_recv_ns is None:
            self.last_recv_ns = now_ns
        return now_ns - self.last_recv_ns

    def check(self, now_ns: int, stale_after_ns: int) -> list[Command]:
        silent = self.silent_ns(now_ns)
        if silent > stale_after_ns:
            return [Reconnect(f"no message from {self.venue} for {silent / 1e9:.1f} s")]
        return []


# -- trades -----------------------------------------------------------------------------------


class TradeIds:
    """The last published trade id per market, kept across reconnects.

    Dense ids (``admit``): an id at or below the last is a duplicate; an id that skips is a loss,
    ``"disconnected"`` when it is the first after a reconnect, ``"trade id gap"`` otherwise.
    Sparse ids (``admit_sparse``): only the REST backfill can tell, so the first trade after a
    reconnect is always a ``TradesLost``."""

    __slots__ = ("_after_reconnect", "last")

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}
        self._after_reconnect: set[str] = set()

    def disconnected(self) -> None:
        self._after_reconnect.update(self.last)

    def admit(
        self, key: str, market: Market, trade_id: int, first: int | None = None
    ) -> tuple[bool, TradesLost | None]:
        """Whether to publish trade ``trade_id`` (its batch starts at ``first``), and its loss."""
        last = self.last.get(key)
        if last is not None and trade_id <= last:
            return False, None
        lost = None
        start = trade_id if first is None else first
        if last is not None and start > last + 1:  # the loss just before the trade
            why = "disconnected" if key in self._after_reconnect else "trade id gap"
            lost = TradesLost(market.id, why, str(last), str(start))
        self._after_reconnect.discard(key)
        self.last[key] = trade_id
        return True, lost

    def admit_sparse(self, key: str, market: Market, trade_id: str) -> TradesLost | None:
        lost = None
        if key in self._after_reconnect:
            self._after_reconnect.discard(key)
            lost = TradesLost(market.id, "disconnected", self.last.get(key), trade_id)
        self.last[key] = trade_id
        return lost


class Batch:
    """Events to publish in order, split by the commands (losses) that must come between."""

    __slots__ = ("_commands", "events")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._commands: list[Command] = []

    def between(self, command: Command | None) -> None:
        """``command`` after the events so far (nothing when ``None``)."""
        if command is not None:
            self._commands += published(self.events)
            self.events = []
            self._commands.append(command)

    def commands(self) -> list[Command]:
        return self._commands + published(self.events)
