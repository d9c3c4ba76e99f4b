"""The Socket.IO price feed's pure parts: MarketUpdate, symbols, subscription rules, acks."""

from __future__ import annotations

import dataclasses
import json

import pytest
from socketio import packet

from tickcast.dialects.socketio_feed.wire import protocol as feed
from tickcast.dialects.socketio_feed.wire.protocol import Selection, SymbolRequest
from tickcast.model import Ticker

ALL = frozenset(feed.SYMBOLS)


BTC = Ticker(
    asset="btc",
    decimals=2,
    price=8_725_050,  # 87250.50
    open_24h=8_600_020,  # 86000.20
    high_24h=8_800_000,
    low_24h=8_500_000,
    volume_24h=1_432_650_000,  # 14326.5 BTC (5 decimals)
    volume_decimals=5,
    time_ns=1_775_001_600_999_999_999,
)


def test_market_update_has_numbers_and_unix_seconds() -> None:
    """Price and change are the exact decimals as JSON numbers; timestamp is whole seconds."""
    update = feed.market_update(BTC)
    assert update == {
        "symbol": "BTC",
        "price": 87250.5,
        "volume": 1_249_994_288.25,  # 14326.5 BTC × 87250.50 USD
        "timestamp": 1_775_001_600,
        "change": 1250.3,
        "changePercent": 1.45,
    }
    assert json.loads(json.dumps(update)) == update


def test_market_update_volume_is_quote_volume_in_usd() -> None:
    """volume = 24 h base volume × last price, whatever the decimals."""
    ticker = dataclasses.replace(
        BTC, asset="xrp", decimals=4, price=2_2000, open_24h=2_0000, volume_24h=1_000_000,
        volume_decimals=1,
    )  # fmt: skip
    update = feed.market_update(ticker)
    assert update["symbol"] == "XRP"
    assert update["price"] == 2.2
    assert update["volume"] == 220_000.0  # 100000.0 XRP × 2.2
    assert update["change"] == 0.2
    assert update["changePercent"] == 10.0


def test_market_update_without_open_has_zero_percent() -> None:
    """A zero open price (no history) gives changePercent 0 instead of a division error."""
    update = feed.market_update(dataclasses.replace(BTC, open_24h=0))
    assert update["changePercent"] == 0.0


def test_symbols_are_the_vendor_twenty() -> None:
    """The feed lists the vendor's 20 symbols; assets map both ways, case-insensitively."""
    assert len(feed.SYMBOLS) == len(ALL) == 20
    assert feed.symbol_of("btc") == "BTC"
    assert feed.symbol_of("Matic") == "MATIC"
    assert feed.symbol_of("usdt") is None
    assert feed.asset_of("DOGE") == "doge"
    assert feed.ordered({"SOL", "BTC", "FIL", "ETH"}) == ["BTC", "ETH", "SOL", "FIL"]


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"apiKey": "ci_live_abc"}, "ci_live_abc"),
        ({"apiKey": ""}, None),
        ({"apiKey": 5}, None),
        ({"token": "x"}, None),
        ("ci_live_abc", None),
        (None, None),
    ],
)
def test_api_key_from_auth(auth: object, key: str | None) -> None:
    """Only a non-empty string under ``apiKey`` of an object is a key."""
    assert feed.api_key_from_auth(auth) == key


def test_parse_symbols_normalises_and_keeps_unknown_as_written() -> None:
    """Case-insensitive, trimmed, de-duplicated; unknown ones are echoed verbatim."""
    request = feed.parse_symbols({"symbols": ["btc", " Eth ", "BTC", "nope", "$"]}, available=ALL)
    assert request == SymbolRequest(known=("BTC", "ETH"), unknown=("nope", "$"))


def test_parse_symbols_accepts_a_bare_list() -> None:
    """``["BTC"]`` is taken as ``{"symbols": ["BTC"]}``."""
    assert feed.parse_symbols(["sol"], available=ALL) == SymbolRequest(("SOL",), ())


def test_parse_symbols_counts_unavailable_symbols_as_unknown() -> None:
    """A symbol the connection may not see (a test key's) is unknown to it."""
    request = feed.parse_symbols({"symbols": ["BTC", "ETH"]}, available=frozenset({"BTC"}))
    assert request == SymbolRequest(("BTC",), ("ETH",))


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "BTC",
        5,
        {},
        {"symbols": "BTC"},
        {"symbols": ["BTC", 5]},
        {"symbols": [["BTC"]]},
        {"symbols": ["BTC"] * (feed.MAX_SYMBOLS_PER_REQUEST + 1)},
    ],
)
def test_parse_symbols_rejects_malformed_payloads(payload: object) -> None:
    """Anything but a list of at most 100 strings (bare or under ``symbols``) is malformed."""
    assert feed.parse_symbols(payload, available=ALL) is None


def test_selection_starts_with_every_available_symbol() -> None:
    """A fresh connection receives every symbol it may see."""
    assert Selection(ALL).symbols == ALL
    assert Selection({"BTC"}).symbols == {"BTC"}


def test_selection_first_subscribe_narrows_later_ones_add() -> None:
    """The first subscribe replaces "everything" with its list; the next adds."""
    selection = Selection(ALL)
    change = selection.subscribe(["BTC", "ETH", "SOL"])
    assert selection.symbols == {"BTC", "ETH", "SOL"}
    assert change.added == frozenset()
    assert change.removed == ALL - {"BTC", "ETH", "SOL"}
    change = selection.subscribe(["DOGE", "BTC"])
    assert selection.symbols == {"BTC", "ETH", "SOL", "DOGE"}
    assert change.added == {"DOGE"}
    assert change.removed == frozenset()


def test_selection_subscribe_of_nothing_known_changes_nothing() -> None:
    """A subscribe listing only unknown symbols does not narrow the feed to nothing."""
    selection = Selection(ALL)
    change = selection.subscribe([])
    assert selection.symbols == ALL
    assert not change.added and not change.removed
    selection.subscribe(["BTC"])
    assert selection.symbols == {"BTC"}


def test_selection_unsubscribe_removes_and_makes_the_set_explicit() -> None:
    """Unsubscribe from the full feed keeps the rest; a later subscribe then adds."""
    selection = Selection(ALL)
    change = selection.unsubscribe(["SOL", "SOL"])
    assert selection.symbols == ALL - {"SOL"}
    assert change.removed == {"SOL"}
    selection.subscribe(["SOL"])
    assert selection.symbols == ALL
    selection.unsubscribe(feed.SYMBOLS)
    assert selection.symbols == frozenset()
    change = selection.unsubscribe(["BTC"])
    assert not change.removed
    selection.subscribe(["ETH"])
    assert selection.symbols == {"ETH"}


def test_selection_ignores_symbols_not_available() -> None:
    """Only available symbols can be subscribed."""
    selection = Selection({"BTC", "ETH"})
    selection.subscribe(["BTC", "SOL"])
    assert selection.symbols == {"BTC"}
    assert "BTC" in selection and "SOL" not in selection


def test_ack_lists_the_whole_selection_in_feed_order() -> None:
    """The acknowledgement names every subscribed symbol (feed order) and the unknown ones."""
    selection = Selection(ALL)
    request = feed.parse_symbols({"symbols": ["sol", "btc", "xyz"]}, available=ALL)
    assert request is not None
    selection.subscribe(request.known)
    assert feed.ack(selection, request) == {
        "ok": True,
        "symbols": ["BTC", "SOL"],
        "unknown": ["xyz"],
    }
    assert feed.malformed_ack() == {"ok": False, "error": "expected {symbols: string[]}"}


def test_event_frame_is_what_python_socketio_writes() -> None:
    """The metered frame is byte for byte python-socketio's encoding of the event."""
    update = feed.market_update(BTC)
    encoded = packet.Packet(
        packet.EVENT, namespace=feed.NAMESPACE, data=[feed.PRICE_UPDATE, update]
    ).encode()
    assert feed.event_frame(feed.PRICE_UPDATE, update) == "4" + encoded
    assert feed.event_frame("initial-prices", [update]).startswith('42/api-ws,["initial-prices",[{')
