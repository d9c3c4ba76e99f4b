"""Kraken v2 feed: the real book capture (re-framed as v2) replayed with every checksum checked."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tests.unit.connectors.frames import FIXTURES, ConsumerBooks, events_of, of_type, read_frames

from tickcast.model.events import BookDelta, BookSnapshot, Quote, Side, Ticker, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.connectors.kraken import KrakenFeed, parse_asset_pairs, v2_symbol
from tickcast.sources.connectors.protocol import (
    Instrument,
    Publish,
    Reconnect,
    Resynced,
    Send,
    TradesLost,
)

BOOKS = FIXTURES / "kraken" / "book-v2.jsonl.gz"


def _instrument(symbol: str, market_id: str, base: str, quote: str) -> Instrument:
    # 5 price decimals: the width of Kraken v1's price strings the capture's checksums cover
    return Instrument(
        symbol, Market(market_id, "kraken", MarketKind.SPOT, base, quote, symbol, 5, 8)
    )


INSTRUMENTS = [
    _instrument("BTC/CHF", "kraken-btc-chf-spot", "btc", "chf"),
    _instrument("ETH/CHF", "kraken-eth-chf-spot", "eth", "chf"),
]


def _replay(feed: KrakenFeed, frames: list[tuple[int, str]]) -> list[object]:
    commands: list[object] = []
    for ns, frame in frames:
        commands.extend(feed.receive(frame, ns))
    return commands


def _independent(frames: list[tuple[int, str]], depth: int) -> dict[str, dict[str, dict]]:
    """Kraken's documented procedure in Decimals, written apart from the feed."""
    books: dict[str, dict[str, dict]] = {}
    for _, frame in frames:
        message = json.loads(frame, parse_float=Decimal)
        for item in message["data"]:
            if message["type"] == "snapshot":
                books[item["symbol"]] = {"bids": {}, "asks": {}}
            book = books[item["symbol"]]
            for side in ("bids", "asks"):
                for level in item[side]:
                    price, qty = Decimal(level["price"]), Decimal(level["qty"])
                    if qty == 0:
                        book[side].pop(price, None)
                    else:
                        book[side][price] = qty
                keep = sorted(book[side], reverse=side == "bids")[:depth]
                book[side] = {price: book[side][price] for price in keep}
    return books


def test_the_real_capture_rebuilds_with_every_checksum_verified() -> None:
    frames = read_frames(BOOKS)
    feed = KrakenFeed(INSTRUMENTS, depth=1000)
    commands = _replay(feed, frames)
    assert feed.checksums_verified == len(frames) == 608
    assert of_type(commands, Resynced) == []
    assert of_type(commands, Send) == []
    consumer = ConsumerBooks()
    consumer.apply(events_of(commands))
    expected = _independent(frames, 1000)
    for instrument in INSTRUMENTS:
        bids, asks = consumer.books[instrument.market.id].top()
        book = expected[instrument.venue_symbol]
        assert dict(bids) == {int(p * 10**5): int(q * 10**8) for p, q in book["bids"].items()}
        assert dict(asks) == {int(p * 10**5): int(q * 10**8) for p, q in book["asks"].items()}
        assert len(bids) > 100 and len(asks) > 100


def test_quotes_follow_the_top_of_the_verified_book() -> None:
    feed = KrakenFeed(INSTRUMENTS)
    events = events_of(_replay(feed, read_frames(BOOKS)))
    quotes = [e for e in events if isinstance(e, Quote) and e.market == "kraken-btc-chf-spot"]
    assert quotes and all(q.bid_price < q.ask_price for q in quotes)
    tops = [(q.bid_price, q.bid_size, q.ask_price, q.ask_size) for q in quotes]
    assert all(a != b for a, b in zip(tops, tops[1:], strict=False))  # only on a change


def _corrupt(frame: str) -> str:
    message = json.loads(frame)
    message["data"][0]["checksum"] ^= 1
    return json.dumps(message)


def test_a_corrupted_checksum_resets_the_book_and_resubscribes() -> None:
    frames = read_frames(BOOKS)
    feed = KrakenFeed(INSTRUMENTS)
    _replay(feed, frames[:50])
    ns, frame = frames[50]
    symbol = json.loads(frame)["data"][0]["symbol"]
    commands = feed.receive(_corrupt(frame), ns)
    market = "kraken-btc-chf-spot" if symbol == "BTC/CHF" else "kraken-eth-chf-spot"
    assert of_type(commands, Resynced) == [Resynced(market, "checksum mismatch")]
    reset = events_of(commands)[-1]
    assert isinstance(reset, BookSnapshot) and reset.market == market
    assert reset.bids == () and reset.asks == ()
    sends = [json.loads(s.text) for s in of_type(commands, Send)]  # type: ignore[attr-defined]
    assert [s["method"] for s in sends] == ["unsubscribe", "subscribe"]
    assert sends[1]["params"] == {
        "channel": "book", "symbol": [symbol], "depth": 1000, "snapshot": True,
    }  # fmt: skip
    # updates of that symbol are dropped until the new snapshot
    later = [(n, f) for n, f in frames[51:] if json.loads(f)["data"][0]["symbol"] == symbol]
    assert events_of(feed.receive(later[0][1], later[0][0])) == []
    snapshot = next(f for _, f in frames if json.loads(f)["type"] == "snapshot" and symbol in f)
    resynced = events_of(feed.receive(snapshot, ns + 1))
    assert isinstance(resynced[0], BookSnapshot) and len(resynced[0].bids) > 0


def test_a_stale_book_message_before_the_snapshot_is_ignored() -> None:
    frames = read_frames(BOOKS)
    feed = KrakenFeed(INSTRUMENTS)
    first_update = next((n, f) for n, f in frames if json.loads(f)["type"] == "update")
    assert feed.receive(first_update[1], first_update[0]) == []
    assert feed.checksums_verified == 0


def _trade(trade_id: int, price: float = 51000.5, side: str = "buy") -> str:
    item = {
        "symbol": "BTC/CHF", "side": side, "price": price, "qty": 0.25, "ord_type": "market",
        "trade_id": trade_id, "timestamp": "2023-09-25T07:49:37.708706Z",
    }  # fmt: skip
    return json.dumps({"channel": "trade", "type": "update", "data": [item]})


def test_trades_are_normalised_and_id_gaps_reported() -> None:
    feed = KrakenFeed(INSTRUMENTS)
    first = feed.receive(_trade(100), 1)
    assert events_of(first) == [
        Trade("kraken-btc-chf-spot", "100", 5_100_050_000, 25_000_000, Side.BUY,
              1_695_628_177_708_706_000),
    ]  # fmt: skip
    assert feed.receive(_trade(100), 2) == []  # duplicate dropped
    gap = feed.receive(_trade(103, side="sell"), 3)
    assert gap[0] == TradesLost("kraken-btc-chf-spot", "trade id gap", "100", "103")
    assert events_of(gap)[0].side is Side.SELL  # type: ignore[union-attr]  # after the loss


def test_a_disconnect_resets_books_and_reports_a_loss_only_when_ids_skip() -> None:
    frames = read_frames(BOOKS)
    feed = KrakenFeed(INSTRUMENTS)
    _replay(feed, frames[:20])
    feed.receive(_trade(7), 1)
    commands = feed.disconnected(99)
    resets = events_of(commands)
    assert {e.market for e in resets} == {"kraken-btc-chf-spot", "kraken-eth-chf-spot"}
    assert all(isinstance(e, BookSnapshot) and e.bids == () == e.asks for e in resets)
    assert len(of_type(commands, Resynced)) == 2
    assert of_type(commands, TradesLost) == []  # the ids after the reconnect tell
    resubscribe = feed.connected()
    assert [json.loads(s.text)["params"]["channel"] for s in resubscribe] == [  # type: ignore[attr-defined]
        "book", "trade", "ticker",
    ]  # fmt: skip
    assert feed.receive(_trade(7), 101) == []  # no duplicate after the reconnect
    after = feed.receive(_trade(9), 100)
    assert after[0] == TradesLost("kraken-btc-chf-spot", "disconnected", "7", "9")
    assert [e.id for e in events_of(after)] == ["9"]  # type: ignore[attr-defined]
    feed.disconnected(102)
    assert of_type(feed.receive(_trade(10), 103), TradesLost) == []  # nothing traded: no loss


def test_a_silent_connection_is_reconnected() -> None:
    feed = KrakenFeed(INSTRUMENTS, stale_after_ns=10_000_000_000)
    assert feed.heartbeat(0) == []
    feed.receive('{"channel":"heartbeat"}', 1_000_000_000)
    assert feed.heartbeat(10_000_000_000) == []
    commands = feed.heartbeat(11_000_000_001)
    assert len(commands) == 1 and isinstance(commands[0], Reconnect)


def test_tickers_of_usd_markets_only() -> None:
    usd = Instrument("BTC/USD", Market("kraken-btc-usd-spot", "kraken", MarketKind.SPOT, "btc",
                                       "usd", "BTC/USD", 1, 8))  # fmt: skip
    feed = KrakenFeed([*INSTRUMENTS, usd])
    item = {"symbol": "BTC/USD", "bid": 27000.1, "bid_qty": 1.0, "ask": 27000.2, "ask_qty": 2.0,
            "last": 27000.2, "volume": 1234.56789012, "vwap": 26900.0, "low": 26500.0,
            "high": 27300.5, "change": 200.30000000000001, "change_pct": 0.75}  # fmt: skip
    other = dict(item, symbol="BTC/CHF")
    message = {"channel": "ticker", "type": "snapshot", "data": [item, other]}
    events = events_of(feed.receive(json.dumps(message), 5))
    assert events == [
        Ticker("btc", 1, 270002, 267999, 273005, 265000, 123456789012, 8, 5),
    ]


def test_instruments_from_the_real_asset_pairs_answer() -> None:
    instruments = parse_asset_pairs((FIXTURES / "kraken" / "asset-pairs.json").read_bytes())
    by_id = {i.market.id: i for i in instruments}
    assert sorted(by_id) == [
        "kraken-btc-chf-spot", "kraken-btc-usd-spot", "kraken-doge-btc-spot",
        "kraken-eth-usd-spot", "kraken-xmr-usd-spot",
    ]  # fmt: skip
    btc = by_id["kraken-btc-usd-spot"]
    assert btc.venue_symbol == "BTC/USD"
    assert (btc.market.price_decimals, btc.market.size_decimals) == (1, 8)
    assert v2_symbol("XDG/XBT") == "DOGE/BTC"


def test_tick_size_is_read_when_listed() -> None:
    body = {"error": [], "result": {"XXBTZUSD": {"wsname": "XBT/USD", "pair_decimals": 1,
            "lot_decimals": 8, "tick_size": "0.5"}}}  # fmt: skip
    (instrument,) = parse_asset_pairs(json.dumps(body))
    assert instrument.market.tick == 5


def test_a_venue_error_is_raised_on_a_bad_instrument_list() -> None:
    with pytest.raises(ValueError, match="EGeneral"):
        parse_asset_pairs('{"error":["EGeneral:Internal error"],"result":{}}')


def test_connected_sends_one_subscribe_per_channel() -> None:
    frames = [json.loads(s.text) for s in KrakenFeed(INSTRUMENTS, depth=25).connected()]  # type: ignore[attr-defined]
    assert frames[0]["params"] == {
        "channel": "book", "symbol": ["BTC/CHF", "ETH/CHF"], "depth": 25, "snapshot": True,
    }  # fmt: skip
    assert [f["method"] for f in frames] == ["subscribe"] * 3
    assert len({f["req_id"] for f in frames}) == 3


def test_publish_is_never_empty() -> None:
    feed = KrakenFeed(INSTRUMENTS)
    for commands in (feed.receive('{"channel":"heartbeat"}', 1), feed.connected()):
        assert all(not isinstance(c, Publish) or c.events for c in commands)
    assert BookDelta  # imported for type clarity


def test_the_documented_control_frames_and_trades() -> None:
    feed = KrakenFeed(INSTRUMENTS)
    commands = _replay(feed, read_frames(FIXTURES / "kraken" / "docs-frames.jsonl"))
    trades = events_of(commands)
    assert [(t.id, t.price, t.side) for t in trades] == [  # type: ignore[attr-defined]
        ("4665906", 2_452_130_000, Side.SELL), ("4665907", 2_452_110_000, Side.SELL),
    ]  # fmt: skip
    assert of_type(commands, TradesLost) == []
    assert feed.errors == ["Currency pair not supported NOPE/USD"]


def test_an_unreadable_frame_reconnects_instead_of_guessing() -> None:
    feed = KrakenFeed(INSTRUMENTS)
    frames = read_frames(BOOKS)
    feed.receive(frames[0][1], frames[0][0])
    bad = frames[0][1].replace('"price":56119,', '"price":"5.6.1",', 1)
    (command,) = feed.receive(bad, 1)
    assert isinstance(command, Reconnect) and "ValueError" in command.reason
