"""Native protocol: parsing client messages and rendering frames, without sockets."""

from __future__ import annotations

import json

import pytest

from tickcast.dialects.native.wire import protocol as native
from tickcast.errors import InvalidMessage, UnknownCommand
from tickcast.model import (
    BookDelta,
    Market,
    MarketCatalog,
    MarketKind,
    Side,
    StreamKind,
    StreamPosition,
    Trade,
)

MARKET = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)


def encoder() -> native.NativeEncoder:
    return native.NativeEncoder(catalog=MarketCatalog([MARKET]))


def test_parse_subscribe_with_resume_depth_and_party() -> None:
    """Every Subscribe field is parsed into the command."""
    command = native.parse_command(
        json.dumps(
            {
                "type": "Subscribe",
                "id": 7,
                "streams": ["book:binance-btc-usdt-spot", "book:binance-btc-usdt-spot"],
                "from": {"book:binance-btc-usdt-spot": {"epoch": "e", "seq": 3}},
                "depth": 10,
                "party": "p",
            }
        )
    )
    assert command == native.Subscribe(
        id=7,
        streams=("book:binance-btc-usdt-spot",),
        resume={"book:binance-btc-usdt-spot": StreamPosition(3, "e")},
        depth=10,
        party="p",
    )


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '"x"',
        '{"type": 3}',
        '{"type":"Subscribe"}',
        '{"type":"Subscribe","streams":[]}',
        '{"type":"Subscribe","streams":[1]}',
        '{"type":"Subscribe","streams":["a"],"depth":0}',
        '{"type":"Subscribe","streams":["a"],"from":{"a":{"epoch":1,"seq":1}}}',
        '{"type":"Ping","id":true}',
        '{"type":"Subscribe","streams":["a"],"party":5}',
    ],
)
def test_parse_rejects_malformed_messages(text: str) -> None:
    """Malformed messages raise InvalidMessage with a reason."""
    with pytest.raises(InvalidMessage):
        native.parse_command(text)


def test_parse_unknown_type() -> None:
    """A well-formed message of an unknown type raises UnknownCommand."""
    with pytest.raises(UnknownCommand):
        native.parse_command('{"type":"Dance"}')


def test_update_frame_of_a_trade_has_canonical_strings() -> None:
    """Prices and sizes carry the market's fixed decimals; time is RFC 3339 with ns."""
    trade = Trade(MARKET.id, "42", 8725050, 1200, Side.SELL, 1_767_225_600_123_456_789, "b", "s")
    frame = encoder().update_frame("trades:binance-btc-usdt-spot", 5, trade, None)
    assert json.loads(frame) == {
        "type": "Update",
        "stream": "trades:binance-btc-usdt-spot",
        "seq": 5,
        "data": {
            "id": "42",
            "price": "87250.50",
            "size": "0.01200",
            "side": "sell",
            "time": "2026-01-01T00:00:00.123456789Z",
            "buyer": "b",
            "seller": "s",
        },
    }


def test_book_update_deletes_with_zero_and_carries_checksum() -> None:
    """A removed level is sent with size "0"; the checksum rides along."""
    delta = BookDelta(MARKET.id, ((8725000, 0),), ((8725100, 50000),), 0)
    frame = json.loads(encoder().update_frame("book:binance-btc-usdt-spot", 2, delta, 123))
    assert frame["data"] == {"asks": [["87251.00", "0.50000"]], "bids": [["87250.00", "0"]]}
    assert frame["checksum"] == 123


def test_empty_snapshot_has_the_kind_shape() -> None:
    """A STATE stream with no data yet still gets a Snapshot of the right shape."""
    frame = encoder().snapshot_frame(
        "book:binance-btc-usdt-spot",
        StreamKind.BOOK,
        StreamPosition(0, "e"),
        (),
        checksum=None,
        reset=False,
    )
    assert json.loads(frame) == {
        "type": "Snapshot",
        "stream": "book:binance-btc-usdt-spot",
        "epoch": "e",
        "seq": 0,
        "data": {"asks": [], "bids": []},
    }


def test_control_frames() -> None:
    """Subscribed, Error, Pong, Closing and Gap have the documented shapes."""
    assert json.loads(native.subscribed_frame(1, [("s", StreamPosition(4, "e"))])) == {
        "type": "Subscribed",
        "id": 1,
        "streams": [{"stream": "s", "epoch": "e", "seq": 4}],
    }
    assert json.loads(native.error_frame(None, "rate_limited", "slow")) == {
        "type": "Error",
        "code": "rate_limited",
        "message": "slow",
    }
    assert json.loads(native.pong_frame("x")) == {"type": "Pong", "id": "x"}
    assert json.loads(native.closing_frame(1012, "server restart", retry=True)) == {
        "type": "Closing",
        "code": 1012,
        "reason": "server restart",
        "retry": True,
    }
    assert json.loads(native.gap_frame("s", "e", 3, 9, "history")) == {
        "type": "Gap",
        "stream": "s",
        "epoch": "e",
        "from": 3,
        "to": 9,
        "reason": "history",
    }
