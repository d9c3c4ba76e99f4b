"""The native fast paths (``wire/updates.py``) write exactly the generic path's bytes.

Seeded random trades and book deltas over markets with various decimals, every optional key
(prev, checksum, publish stamps, buyer and seller), awkward strings (quotes, backslashes,
control characters, non-ASCII) and the values the fast path hands back to the generic one
(negative numbers, floats, no decimals, a checksum beyond 64 bits).
"""

from __future__ import annotations

import random

import pytest

from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.dialects.native.wire.updates import FastUpdates
from tickcast.model import BookDelta, Market, MarketCatalog, MarketKind, Side, Trade
from tickcast.model.events import Level

MARKETS = [
    Market(f"acme-b{p}-q{s}-spot", "acme", MarketKind.SPOT, "btc", "usd", "BTC-USD", p, s)
    for p, s in ((2, 8), (1, 3), (8, 2), (0, 4), (3, 0), (0, 0), (12, 12))
]
ODD = ['a"b', "c\\d", "e\nf", "g\x01h", "é中", "", "</script>", "\u2028"]


def encoders() -> list[NativeEncoder]:
    catalog = MarketCatalog(MARKETS)
    return [NativeEncoder(catalog=catalog), NativeEncoder(catalog=catalog, publish_stamps=True)]


def number(rng: random.Random) -> int:
    return rng.choice([0, 1, 9, 10, rng.randrange(10**6), rng.randrange(10**20), 10**18, -7])


def text(rng: random.Random) -> str:
    return rng.choice([str(rng.randrange(10**9)), rng.choice(ODD), "trade-" + rng.choice(ODD)])


def trade(rng: random.Random) -> Trade:
    market = rng.choice(MARKETS).id
    time_ns = rng.choice([0, 1, 1_767_225_600_123_456_789, rng.randrange(2**62)])
    parties = rng.random() < 0.3
    return Trade(
        market, text(rng), number(rng), number(rng), rng.choice(list(Side)), time_ns,
        text(rng) if parties else None, text(rng) if parties and rng.random() < 0.5 else None,
    )  # fmt: skip


def levels(rng: random.Random) -> tuple[Level, ...]:
    return tuple((number(rng), rng.choice([0, number(rng)])) for _ in range(rng.randrange(4)))


def delta(rng: random.Random) -> BookDelta:
    checksum = rng.choice([None, 0, rng.randrange(2**32)])
    return BookDelta(rng.choice(MARKETS).id, levels(rng), levels(rng), 5, checksum)


@pytest.mark.parametrize("seed", range(20))
def test_fast_frames_are_the_generic_bytes(seed: int) -> None:
    rng = random.Random(seed)
    for encoder in encoders():
        for _ in range(200):
            event = trade(rng) if rng.random() < 0.5 else delta(rng)
            stream = rng.choice(["trades:m2-8", 'odd:"stream\\'])
            seq, prev = rng.randrange(1, 2**40), rng.choice([None, 0, rng.randrange(2**40)])
            stamp = rng.choice([0, rng.randrange(2**62)])
            checksum = event.checksum if isinstance(event, BookDelta) else None
            args = (stream, seq, event, checksum, prev, stamp)
            assert encoder.update_frame(*args) == encoder.generic_update_frame(*args)


@pytest.mark.parametrize(
    "event",
    [
        Trade("acme-b2-q8-spot", "1", -5, 1, Side.BUY, 0),
        Trade("acme-b2-q8-spot", "1", 5, 1.5, Side.SELL, 0),  # type: ignore[arg-type]
        Trade("acme-b2-q8-spot", "1", 5, 1, Side.SELL, 1.0),  # type: ignore[arg-type]
        Trade("acme-b0-q4-spot", "1", 5, 1, Side.SELL, 0),
        BookDelta("acme-b2-q8-spot", ((-1, 2),), (), 0, 1),
        BookDelta("acme-b2-q8-spot", ((1, 2.0),), (), 0, 1),  # type: ignore[arg-type]
        BookDelta("acme-b2-q8-spot", ((1, 2),), (), 0, 2**64),
        BookDelta("acme-b3-q0-spot", ((1, 2),), (), 0, 1),
    ],
)
def test_values_the_fast_path_leaves_to_the_generic_one(event: Trade | BookDelta) -> None:
    fast = FastUpdates(MarketCatalog(MARKETS), publish_stamps=False)
    if isinstance(event, Trade):
        assert fast.trade("trades:x", 1, event, None, 0) is None
    else:
        assert fast.book_delta("book:x", 1, event, event.checksum, None, 0) is None


def test_a_market_defined_again_gets_its_new_decimals() -> None:
    catalog = MarketCatalog([MARKETS[0]])
    encoder = NativeEncoder(catalog=catalog)
    event = Trade(MARKETS[0].id, "1", 12_345, 6_789, Side.BUY, 0)
    assert b'"price":"123.45"' in encoder.update_frame("trades:x", 1, event, None)
    catalog.add(Market(MARKETS[0].id, "acme", MarketKind.SPOT, "btc", "usd", "BTC-USD", 3, 1))
    frame = encoder.update_frame("trades:x", 2, event, None)
    assert b'"price":"12.345","size":"678.9"' in frame
    assert frame == encoder.generic_update_frame("trades:x", 2, event, None)
