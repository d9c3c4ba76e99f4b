"""The trade item's one-format encoding is the generic stream rendering, byte for byte."""

from __future__ import annotations

import random

from tickcast.dialects.vega.wire import encode, jsonpb
from tickcast.model import Side, Trade
from tickcast.sources.bench import MARKET

PARTIES = [None, "", "a" * 64, 'quote"back\\slash', "é\n\t\x01ctl", "🙂"]


def generic(trade: Trade) -> bytes:
    return jsonpb.dumps(jsonpb.stream(encode.trade(MARKET, trade)))


def test_trade_item_is_the_generic_rendering() -> None:
    rng = random.Random(20)
    numbers = [0, 1, -1, 7, 8_720_050, 2**63 - 1, -(2**40)]
    for n in range(2_000):
        trade = Trade(
            MARKET.id,
            rng.choice(["1", str(n), 'x"y', "é"]),
            rng.choice(numbers),
            rng.choice(numbers),
            rng.choice([Side.BUY, Side.SELL]),
            rng.choice([0, 1_796_499_026_958_719_048]),
            rng.choice(PARTIES),
            rng.choice(PARTIES),
        )
        assert encode.trade_item(MARKET, trade) == generic(trade), trade
