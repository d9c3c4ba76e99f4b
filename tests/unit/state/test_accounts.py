"""Accounts: rebuilt on activation from the keeper's positions, exactly as if applied all along;
nothing is kept while inactive."""

from __future__ import annotations

import random

from tickcast.dialects.vega.wire.accounts import DEPOSIT
from tickcast.model import Envelope, Market, MarketKind, Position, stream_of
from tickcast.state.accounts import Accounts
from tickcast.state.keeper import StateKeeper

BTC = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)
ETH = Market("binance-eth-usdt-spot", "binance", MarketKind.SPOT, "eth", "usdt", "ETHUSDT", 2, 4)
MARKETS = {BTC.id: BTC, ETH.id: ETH}
PARTIES = ["a" * 64, "b" * 64, "c" * 64]


def _positions(count: int) -> list[Envelope]:
    rng = random.Random(3)
    realised: dict[tuple[str, str], int] = {}
    out = []
    for n in range(count):
        market, party = rng.choice((BTC, ETH)), rng.choice(PARTIES)
        key = (market.id, party)
        realised[key] = realised.get(key, 0) + rng.randint(-5_000, 5_000)
        volume = rng.randint(-200_000, 200_000)
        event = Position(market.id, party, volume, 8_700_000, realised[key], 0, 8_700_000, n)
        out.append(Envelope(str(stream_of(event)), n + 1, "e", event, 0))
    return out


def test_activation_rebuilds_the_balances_applying_every_change_would_give() -> None:
    envelopes = _positions(500)
    keeper = StateKeeper()
    lazy = Accounts(keeper, MARKETS, PARTIES)
    always = Accounts(StateKeeper(), MARKETS, PARTIES)
    always.activate()
    for envelope in envelopes:
        keeper.apply(envelope)
        lazy([envelope])
        always([envelope])
    assert not lazy.active and lazy.accounts() == [] and lazy.updates == []
    lazy.activate()
    assert sorted(lazy.accounts(), key=repr) == sorted(always.accounts(), key=repr)
    more = _positions(520)[500:]
    lazy(more)
    always(more)
    assert [u.ledger for u in lazy.updates] == [u.ledger for u in always.updates]
    lazy.deactivate()
    assert lazy.accounts() == [] and not lazy.active


def test_every_party_starts_with_the_deposit() -> None:
    accounts = Accounts(StateKeeper(), MARKETS, PARTIES)
    accounts.activate()
    assert {(a.owner, a.balance) for a in accounts.accounts()} == {(p, DEPOSIT) for p in PARTIES}
