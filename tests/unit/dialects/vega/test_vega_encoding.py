"""Vega JSON renderings, ids, filters and paging (pure, no sockets)."""

from __future__ import annotations

import json

import pytest

from tickcast.dialects.vega.wire import errors, jsonpb
from tickcast.dialects.vega.wire.filters import (
    Filter,
    InvalidArgument,
    Malformed,
    StreamName,
    parse,
    parse_stream_name,
)
from tickcast.dialects.vega.wire.ids import (
    candle_id,
    is_hex_id,
    market_hex,
    parse_candle_id,
)
from tickcast.dialects.vega.wire.jsonpb import I64, Enum, Optional
from tickcast.dialects.vega.wire.paging import PAGE_SIZE, snapshot_lines, update_lines

PARTY = "a" * 64
OTHER = "b" * 64


def test_stream_rendering_drops_defaults_and_uses_enum_numbers() -> None:
    message = {
        "id": "x",
        "side": Enum(1, "SIDE_BUY"),
        "status": Enum(0, "STATUS_UNSPECIFIED"),
        "size": I64(10),
        "remaining": I64(0),
        "price": "0",
        "reference": "",
        "postOnly": False,
        "reduceOnly": True,
        "levels": [],
        "fee": {"makerFee": "0", "infrastructureFee": ""},
        "expiresAt": Optional(I64(0)),
    }
    assert jsonpb.stream(message) == {
        "id": "x",
        "side": 1,
        "size": "10",
        "price": "0",
        "reduceOnly": True,
        "fee": {"makerFee": "0"},
        "expiresAt": "0",
    }


def test_rest_rendering_keeps_defaults_and_uses_enum_names() -> None:
    message = {"side": Enum(2, "SIDE_SELL"), "size": I64(0), "reference": "", "ok": False}
    assert jsonpb.rest(message) == {
        "side": "SIDE_SELL",
        "size": "0",
        "reference": "",
        "ok": False,
    }


def test_market_ids_are_stable_64_hex_and_candle_ids_round_trip() -> None:
    hex_id = market_hex("binance-btc-usdt-spot")
    assert is_hex_id(hex_id)
    assert hex_id == "b7cc58af6f0388a7104c46de96d4295858803672e3b00e645dcf630dcd366cfe"
    assert market_hex("binance-eth-usdt-spot") != hex_id
    candle = candle_id("5 minutes", hex_id)
    assert candle == f"trades_candle_5_minutes_{hex_id}"
    assert parse_candle_id(candle) == ("5 minutes", hex_id)
    assert parse_candle_id(f"trades_candle_2_minutes_{hex_id}") is None
    assert not is_hex_id("A" * 64)


def test_filters_accept_proto_json_and_legacy_names_with_repeated_keys() -> None:
    pairs = [
        ("marketIds", "1" * 64),
        ("market_ids", "2" * 64),
        ("marketId", "3" * 64),
        ("partyIds", PARTY),
        ("party_id", OTHER),
        ("partyId?", "c" * 64),  # the vendor doc's typo: an unknown key, ignored
        ("colour", "blue"),
    ]
    selection = parse(StreamName.TRADES, pairs)
    assert selection.markets == {"1" * 64, "2" * 64, "3" * 64}
    assert selection.parties == {PARTY, OTHER}


def test_filters_do_not_split_commas() -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse(StreamName.ORDERS, [("partyIds", f"{PARTY},{OTHER}")])
    assert raised.value.message == "invalid party id"


@pytest.mark.parametrize(
    ("stream", "pairs", "message"),
    [
        (
            StreamName.ORDERS,
            [("excludeLiquidity", "maybe")],
            'parsing field "exclude_liquidity": strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            StreamName.ACCOUNTS,
            [("type", "FOO")],
            'parsing field "type": "FOO" is not a valid value',
        ),
        (StreamName.ACCOUNTS, [("asset", "a" * 64), ("asset", "b" * 64)], "too many values"),
    ],
)
def test_malformed_values_are_gateway_errors(
    stream: StreamName, pairs: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(Malformed) as raised:
        parse(stream, pairs)
    assert message in str(raised.value)
    line = json.loads(errors.gateway_error(3, str(raised.value)))
    assert line == {"code": 3, "message": str(raised.value)}


def test_enum_and_bool_values_by_name_or_number() -> None:
    by_name = parse(StreamName.ACCOUNTS, [("type", "ACCOUNT_TYPE_MARGIN")])
    by_number = parse(StreamName.ACCOUNTS, [("type", "3")])
    assert by_name.account_type == by_number.account_type == 3
    assert parse(StreamName.ORDERS, [("exclude_liquidity", "true")]).exclude_liquidity
    # not a field of the trades request: unknown, ignored
    assert parse(StreamName.TRADES, [("excludeLiquidity", "maybe")]) == Filter(StreamName.TRADES)


def test_candle_stream_needs_a_candle_id() -> None:
    with pytest.raises(InvalidArgument):
        parse(StreamName.CANDLES, [("marketId", "1" * 64)])
    assert parse(StreamName.CANDLES, [("candleId", "x")]).candle_id == "x"


def test_stream_names() -> None:
    assert parse_stream_name("markets/depth/updates") is StreamName.DEPTH_UPDATES
    assert parse_stream_name("bogus") is None


def test_error_lines() -> None:
    assert json.loads(errors.too_many_streams()) == {
        "error": {"code": 8, "message": "client reached max subscription allowed"}
    }
    failure = json.loads(errors.stream_failure())["error"]
    assert failure["code"] == 13 and failure["message"] == "Internal error"
    assert failure["details"][0]["@type"] == "type.googleapis.com/vega.ErrorDetail"
    assert failure["details"][0]["inner"] == "channel closed"
    assert json.loads(errors.not_found_path()) == {"code": 5, "message": "Not Found"}


def _items(count: int) -> list[bytes]:
    return [json.dumps({"id": str(n)}).encode() for n in range(count)]


def test_empty_snapshot_is_one_page_with_only_last_page() -> None:
    assert snapshot_lines(StreamName.ORDERS, []) == [b'{"result":{"snapshot":{"lastPage":true}}}']


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (50, 1), (51, 2), (120, 3)])
def test_snapshot_pages_of_at_most_50_with_last_page_only_on_the_last(
    count: int, pages: int
) -> None:
    lines = snapshot_lines(StreamName.POSITIONS, _items(count))
    assert len(lines) == pages
    decoded = [json.loads(line)["result"]["snapshot"] for line in lines]
    assert [len(page["positions"]) for page in decoded] == [
        min(PAGE_SIZE, count - PAGE_SIZE * i) for i in range(pages)
    ]
    assert ["lastPage" in page for page in decoded] == [False] * (pages - 1) + [True]
    assert decoded[-1]["lastPage"] is True
    ids = [item["id"] for page in decoded for item in page["positions"]]
    assert ids == [str(n) for n in range(count)]


def test_update_lines_chunk_by_50_and_wrap_by_stream() -> None:
    lines = update_lines(StreamName.ORDERS, _items(101))
    assert [len(json.loads(x)["result"]["updates"]["orders"]) for x in lines] == [50, 50, 1]
    trades = update_lines(StreamName.TRADES, _items(3))
    assert json.loads(trades[0]) == {"result": {"trades": [{"id": "0"}, {"id": "1"}, {"id": "2"}]}}
    depth = update_lines(StreamName.DEPTH_UPDATES, _items(1))
    assert json.loads(depth[0]) == {"result": {"update": [{"id": "0"}]}}
    candles = update_lines(StreamName.CANDLES, _items(2))
    assert [json.loads(x) for x in candles] == [
        {"result": {"candle": {"id": "0"}}},
        {"result": {"candle": {"id": "1"}}},
    ]
    assert update_lines(StreamName.TRADES, []) == []
