"""``publish_stamps``: the envelope's publish time on the wire, and nothing when it is off."""

from __future__ import annotations

import orjson

from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.dialects.socketio_feed.wire import protocol as feed
from tickcast.model import BookDelta, Market, MarketCatalog, MarketKind, Side, Ticker, Trade

MARKET = Market("acme-btc-usd-spot", "acme", MarketKind.SPOT, "btc", "usd", "BTC-USD", 2, 3)
TRADE = Trade(MARKET.id, "42", 8_725_050, 1_250, Side.BUY, 1_767_225_600_000_000_000)
STREAM = "trades:acme-btc-usd-spot"


def encoders() -> tuple[NativeEncoder, NativeEncoder]:
    catalog = MarketCatalog([MARKET])
    return NativeEncoder(catalog=catalog), NativeEncoder(catalog=catalog, publish_stamps=True)


def test_native_update_ends_with_the_publish_time_only_when_stamping() -> None:
    plain, stamping = encoders()
    unstamped = plain.update_frame(STREAM, 7, TRADE, None, None, 123_456_789)
    assert unstamped == plain.update_frame(STREAM, 7, TRADE, None)  # off: no trace of it
    assert b"t_ns" not in unstamped
    stamped = stamping.update_frame(STREAM, 7, TRADE, None, 6, 123_456_789)
    assert stamped == unstamped[:-1].replace(b'"seq":7,', b'"seq":7,"prev":6,') + (
        b',"t_ns":123456789}'
    )
    message = orjson.loads(stamped)
    assert list(message)[-1] == "t_ns" and message["data"] == orjson.loads(unstamped)["data"]


def test_native_stamp_follows_the_checksum_and_needs_a_known_time() -> None:
    _, stamping = encoders()
    delta = BookDelta(MARKET.id, ((8_725_000, 0),), (), 5)
    frame = stamping.update_frame("book:acme-btc-usd-spot", 3, delta, 99, None, 5_000)
    assert frame.endswith(b'"checksum":99,"t_ns":5000}')
    assert b"t_ns" not in stamping.update_frame(STREAM, 3, TRADE, None)  # stored history: 0


def test_feed_update_gets_seq_and_t_ns_last() -> None:
    ticker = Ticker("btc", 2, 8_725_050, 8_600_000, 8_800_000, 8_500_000, 1_000_000, 3, 10**18)
    update = feed.market_update(ticker)
    assert "seq" not in update and "t_ns" not in update
    stamped = feed.stamped(update, 5, 987)
    assert list(stamped)[-2:] == ["seq", "t_ns"] and (stamped["seq"], stamped["t_ns"]) == (5, 987)
    assert {k: v for k, v in stamped.items() if k not in ("seq", "t_ns")} == update
    text = feed.event_frame(feed.PRICE_UPDATE, stamped)
    assert text.endswith('"seq":5,"t_ns":987}]')
