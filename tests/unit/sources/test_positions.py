"""Positions and PnL from trades."""

from __future__ import annotations

from tickcast.model.events import Position, Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.positions import PositionState, PositionTracker

MARKET = Market("sim-abc-usd-spot", "sim", MarketKind.SPOT, "abc", "usd", "ABCUSD", 2, 3)
T = 1_000


def fill(
    tracker: PositionTracker, price: int, size: int, buyer: str, seller: str
) -> list[Position]:
    return tracker.on_trade(Trade(MARKET.id, "1", price, size, Side.BUY, T, buyer, seller))


def test_positions_open_long_and_short() -> None:
    """A trade opens a long for the buyer and a short for the seller at the trade price."""
    tracker = PositionTracker([MARKET])
    buyer, seller = fill(tracker, 10000, 2000, "a", "b")
    assert (buyer.party, buyer.open_volume, buyer.average_entry) == ("a", 2000, 10000)
    assert (seller.party, seller.open_volume, seller.average_entry) == ("b", -2000, 10000)
    assert buyer.unrealised_pnl == seller.unrealised_pnl == 0
    assert buyer.mark_price == 10000


def test_positions_add_averages_entry() -> None:
    """Adding to a position volume-weights the entry; unrealised follows the mark."""
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 1000, "a", "b")
    buyer, _ = fill(tracker, 10300, 2000, "a", "c")
    assert (buyer.open_volume, buyer.average_entry) == (3000, 10200)
    assert buyer.unrealised_pnl == 300  # (103.00 - 102.00) * 3 = 3.00
    assert buyer.realised_pnl == 0


def test_positions_reduce_realises_pnl() -> None:
    """Reducing realises (price - entry) * volume and keeps the entry."""
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 3000, "a", "b")
    _, seller = fill(tracker, 10550, 1000, "c", "a")
    assert (seller.open_volume, seller.average_entry) == (2000, 10000)
    assert seller.realised_pnl == 550  # (105.50 - 100.00) * 1 = 5.50
    assert seller.unrealised_pnl == 1100


def test_positions_flip_resets_entry() -> None:
    """Crossing through zero realises the closed part and re-enters at the trade price."""
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 1000, "a", "b")
    _, seller = fill(tracker, 9000, 3000, "c", "a")
    assert (seller.open_volume, seller.average_entry) == (-2000, 9000)
    assert seller.realised_pnl == -1000  # (90 - 100) * 1
    short = fill(tracker, 8500, 500, "a", "d")[0]
    assert short.realised_pnl == -1000 + 250  # short 0.5 from 90 covered at 85
    assert short.unrealised_pnl == 750  # remaining short 1.5 * (90 - 85)


def test_positions_close_goes_flat() -> None:
    """Closing fully leaves volume 0, entry 0 and no unrealised PnL."""
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 1500, "a", "b")
    _, seller = fill(tracker, 10010, 1500, "b", "a")
    assert (seller.open_volume, seller.average_entry, seller.unrealised_pnl) == (0, 0, 0)
    assert seller.realised_pnl == 15  # 0.10 * 1.5
    shorter = tracker.position(MARKET.id, "b", T)
    assert shorter is not None and shorter.open_volume == 0 and shorter.realised_pnl == -15


def test_positions_pnl_rounds_half_away_from_zero() -> None:
    """Sub-cent PnL is rounded half away from zero (exact integers inside)."""
    state = PositionState()
    state.apply(5, 10000)  # long 0.005 at 100.00
    state.apply(-5, 10001)  # sell at 100.01: +0.00005
    assert state.realised == 5
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 5, "a", "b")
    _, seller = fill(tracker, 10100, 5, "c", "a")
    assert seller.realised_pnl == 1  # 1.00 * 0.005 = 0.005 -> 0.01


def test_positions_mark_to_market_lists_open_positions() -> None:
    """mark_to_market returns the parties with open volume in a market."""
    tracker = PositionTracker([MARKET])
    fill(tracker, 10000, 1000, "a", "b")
    fill(tracker, 10000, 1000, "b", "c")
    parties = sorted(p.party for p in tracker.mark_to_market(MARKET.id, T))
    assert parties == ["a", "c"]
    assert tracker.on_trade(Trade("sim-x-usd-spot", "1", 1, 1, Side.BUY, T, "a", "b")) == []
