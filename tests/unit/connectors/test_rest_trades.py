"""REST recent trades of Kraken, OKX and Bybit (fixtures built from each venue's documentation)
and how the backfill places them: by dense id, or by position where ids are not dense (Bybit)."""

from __future__ import annotations

from tests.unit.connectors.frames import FIXTURES

from tickcast.model.events import Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.connectors import rest_trades
from tickcast.sources.connectors.backfill import ENDS_EARLY, FAILED, TOO_SHORT, recovered
from tickcast.sources.connectors.protocol import TradesLost

KRAKEN = Market("kraken-btc-chf-spot", "kraken", MarketKind.SPOT, "btc", "chf", "BTC/CHF", 1, 8)
OKX = Market("okx-btc-usdt-spot", "okx", MarketKind.SPOT, "btc", "usdt", "BTC-USDT", 1, 8)
BYBIT = Market("bybit-BTCUSDT-future", "bybit", MarketKind.FUTURE, "btc", "usdt", "BTCUSDT", 2, 3)


def _body(venue: str) -> bytes:
    return (FIXTURES / venue / "recent-trades.json").read_bytes()


def test_paths_follow_each_venues_documentation() -> None:
    assert rest_trades.kraken_trades_path("BTC/CHF") == "/0/public/Trades?pair=XBTCHF&count=1000"
    assert (
        rest_trades.okx_trades_path("BTC-USDT") == "/api/v5/market/trades?instId=BTC-USDT&limit=500"
    )
    assert rest_trades.bybit_trades_path("spot", "BTCUSDT").endswith(
        "category=spot&symbol=BTCUSDT&limit=60"
    )
    assert rest_trades.bybit_trades_path("linear", "BTCUSDT").endswith("&limit=1000")


def test_kraken_rows_become_trades_oldest_first() -> None:
    trades = rest_trades.kraken_trades(KRAKEN, _body("kraken"))
    assert [t.id for t in trades] == ["101", "102", "103"]
    assert trades[0] == Trade(
        KRAKEN.id, "101", 265001, 25_000_000, Side.BUY, 1_695_628_177_708_706_100
    )
    assert trades[1].side is Side.SELL


def test_okx_answer_newest_first_becomes_oldest_first() -> None:
    trades = rest_trades.okx_trades(OKX, _body("okx"))
    assert [t.id for t in trades] == ["21", "22", "23"]
    assert trades[0] == Trade(OKX.id, "21", 300000, 10_000_000, Side.SELL, 1652459224818000000)


def test_bybit_answer_is_reversed_not_sorted_by_id() -> None:
    trades = rest_trades.bybit_trades(BYBIT, _body("bybit"))
    assert [t.id for t in trades] == ["f1e2d3c4-0001", "0b9d2c77-0002", "c3a1e6f0-0003"]
    assert trades[0] == Trade(BYBIT.id, "f1e2d3c4-0001", 1657840, 10, Side.BUY, 1672304486865000000)


def test_venue_errors_are_value_errors() -> None:
    for parse, body in (
        (rest_trades.kraken_trades, b'{"error":["EQuery:Unknown asset pair"],"result":{}}'),
        (
            rest_trades.okx_trades,
            b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}',
        ),
        (rest_trades.bybit_trades, b'{"retCode":10001,"retMsg":"params error","result":{}}'),
    ):
        try:
            parse(KRAKEN, body)
        except ValueError:
            continue
        raise AssertionError(f"{parse.__name__} accepted an error")


def test_dense_backfill_between_the_ids() -> None:
    trades = rest_trades.okx_trades(OKX, _body("okx"))
    assert recovered(TradesLost(OKX.id, "x", "20", "24"), trades) == (trades, None)
    assert recovered(TradesLost(OKX.id, "x", "18", "24"), trades) == (trades, TOO_SHORT)
    assert recovered(TradesLost(OKX.id, "x", "20", "26"), trades) == (trades, ENDS_EARLY)
    assert recovered(TradesLost(OKX.id, "x", "20", "24"), None) == ([], FAILED)


def test_non_dense_backfill_by_position() -> None:
    trades = rest_trades.bybit_trades(BYBIT, _body("bybit"))
    first, middle, last = (t.id for t in trades)

    def fill(after: str | None, before: str | None) -> tuple[list[str], str | None]:
        found, why = recovered(TradesLost(BYBIT.id, "x", after, before), trades, dense=False)
        return [t.id for t in found], why

    assert fill(first, last) == ([middle], None)
    assert fill(first, middle) == ([], None)  # nothing traded during the reconnect
    assert fill("older", last) == ([first, middle], TOO_SHORT)
    assert fill(first, "newer") == ([middle, last], ENDS_EARLY)
    assert recovered(TradesLost(BYBIT.id, "x", first, last), None, dense=False) == ([], FAILED)
