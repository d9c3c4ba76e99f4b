"""Per (market, party) positions from trades, with average-cost realised and unrealised PnL.

Volumes are signed size units (long positive). The average entry is volume-weighted while a
position grows, unchanged while it shrinks, and reset to the trade price when it flips (0 when
flat). PnL is ``(price - entry) * volume / 10**size_decimals`` in quote currency scaled by the
market's price decimals, computed exactly and rounded half away from zero via ``rescale``.
The mark price is the market's last trade price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickcast.model.events import Position, Trade
from tickcast.model.markets import Market
from tickcast.model.numbers import rescale


def _div_round(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero (``denominator`` > 0)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(slots=True)
class PositionState:
    """The running position of one party in one market."""

    open_volume: int = 0
    average_entry: int = 0
    realised: int = 0
    """Realised PnL scaled by price + size decimals (exact)."""

    def apply(self, signed_size: int, price: int) -> None:
        """Apply a fill: positive ``signed_size`` buys, negative sells."""
        volume = self.open_volume
        if volume == 0 or (volume > 0) == (signed_size > 0):
            total = abs(volume) + abs(signed_size)
            weighted = self.average_entry * abs(volume) + price * abs(signed_size)
            self.average_entry = _div_round(weighted, total)
            self.open_volume = volume + signed_size
            return
        closing = min(abs(signed_size), abs(volume))
        direction = 1 if volume > 0 else -1
        self.realised += (price - self.average_entry) * closing * direction
        self.open_volume = volume + signed_size
        if self.open_volume == 0:
            self.average_entry = 0
        elif (self.open_volume > 0) != (volume > 0):
            self.average_entry = price

    def unrealised(self, mark: int) -> int:
        """Unrealised PnL against ``mark``, scaled by price + size decimals."""
        if self.open_volume == 0:
            return 0
        return (mark - self.average_entry) * self.open_volume


class PositionTracker:
    """Positions of every party in every known market."""

    def __init__(self, markets: Iterable[Market]) -> None:
        self._markets = {market.id: market for market in markets}
        self._states: dict[tuple[str, str], PositionState] = {}
        self._marks: dict[str, int] = {}

    def on_trade(self, trade: Trade) -> list[Position]:
        """Update buyer and seller; return their new positions (buyer first)."""
        market = self._markets.get(trade.market)
        if market is None:
            return []
        self._marks[market.id] = trade.price
        out: list[Position] = []
        for party, signed in ((trade.buyer, trade.size), (trade.seller, -trade.size)):
            if party is None:
                continue
            state = self._states.setdefault((market.id, party), PositionState())
            state.apply(signed, trade.price)
            out.append(self._event(market, party, state, trade.time_ns))
        return out

    def position(self, market_id: str, party: str, now_ns: int) -> Position | None:
        """The current position of a party in a market, or None if it never traded there."""
        state = self._states.get((market_id, party))
        if state is None:
            return None
        return self._event(self._markets[market_id], party, state, now_ns)

    def mark_to_market(self, market_id: str, now_ns: int) -> list[Position]:
        """Positions of every party with open volume in a market, at the current mark."""
        market = self._markets[market_id]
        return [
            self._event(market, party, state, now_ns)
            for (mid, party), state in self._states.items()
            if mid == market_id and state.open_volume
        ]

    def _event(self, market: Market, party: str, state: PositionState, now_ns: int) -> Position:
        mark = self._marks.get(market.id, 0)
        decimals = market.price_decimals
        raw_scale = decimals + market.size_decimals
        return Position(
            market=market.id,
            party=party,
            open_volume=state.open_volume,
            average_entry=state.average_entry,
            realised_pnl=rescale(state.realised, raw_scale, decimals),
            unrealised_pnl=rescale(state.unrealised(mark), raw_scale, decimals),
            mark_price=mark,
            time_ns=now_ns,
        )
