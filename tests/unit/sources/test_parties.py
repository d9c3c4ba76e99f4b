"""Simulated parties and their behaviours."""

from __future__ import annotations

import random
import re

from tickcast.model.events import Side
from tickcast.sources.makers import MarketMaker
from tickcast.sources.matching import MatchingEngine
from tickcast.sources.parties import NoiseTrader, Role, Taker, default_parties, party_id
from tickcast.sources.universe import default_markets

BTC = default_markets(assets=["btc"], venues=["binance"], futures=False)[0]
T = 1_767_225_600_000_000_000


def test_parties_ids_are_stable_hex() -> None:
    """Party ids are 64 lower-case hex characters and never change between runs."""
    ids = [party.id for party in default_parties()]
    assert all(re.fullmatch(r"[0-9a-f]{64}", pid) for pid in ids)
    assert len(set(ids)) == len(ids)
    assert party_id(0) == "192439ec07a02c226798d7fc9d6caa503ea6e47d865a5bb9d61e64b9e009f124"


def test_parties_roles_are_numbered_in_order() -> None:
    """Makers come first, then takers, then noise traders."""
    parties = default_parties(makers=2, takers=1, noise=1)
    assert [p.role for p in parties] == [Role.MAKER, Role.MAKER, Role.TAKER, Role.NOISE]
    assert [p.number for p in parties] == [0, 1, 2, 3]


def test_parties_maker_seeds_ladder_on_both_sides() -> None:
    """A maker's seed puts its full ladder on each side without crossing."""
    engine = MatchingEngine(BTC)
    maker = MarketMaker(default_parties()[0], BTC, levels=25)
    maker.seed(engine, 8_725_000, random.Random(1), T)
    assert len(engine.levels(Side.BUY)) == 25
    assert len(engine.levels(Side.SELL)) == 25
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is not None and ask is not None
    assert bid[0] < 8_725_000 < ask[0]


def test_parties_maker_follows_fair_price() -> None:
    """After the fair price jumps, re-quoting moves the maker's ladder around it."""
    engine = MatchingEngine(BTC)
    maker = MarketMaker(default_parties()[0], BTC, levels=10)
    rng = random.Random(2)
    maker.seed(engine, 8_725_000, rng, T)
    new_fair = 8_800_000
    for _ in range(200):
        maker.act(engine, new_fair, rng, T)
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is not None and ask is not None
    assert bid[0] < new_fair < ask[0]
    assert ask[0] - bid[0] < new_fair * 10 // 10_000


def test_parties_takers_and_noise_trade_against_makers() -> None:
    """Takers and noise traders produce trades against a maker's book."""
    engine = MatchingEngine(BTC)
    parties = default_parties()
    maker = MarketMaker(parties[0], BTC)
    taker = Taker(parties[4], BTC)
    noise = NoiseTrader(parties[10], BTC)
    rng = random.Random(3)
    maker.seed(engine, 8_725_000, rng, T)
    trades = 0
    for _ in range(300):
        agent = rng.choice([maker, taker, noise])
        events = agent.act(engine, 8_725_000, rng, T)
        trades += sum(1 for e in events if type(e).__name__ == "Trade")
    assert trades > 20
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is not None and ask is not None and bid[0] < ask[0]
