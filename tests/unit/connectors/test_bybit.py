"""Bybit v5 feed: ``orderbook.200`` frames generated from Bybit's v5 docs plus documented frames."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.unit.connectors.frames import FIXTURES, ConsumerBooks, events_of, of_type, read_frames

from tickcast.model.events import BookSnapshot, Quote, Side, Ticker, Trade
from tickcast.model.markets import MarketKind
from tickcast.sources.connectors.bybit import BybitFeed, instruments_path, parse_instruments
from tickcast.sources.connectors.protocol import Reconnect, Resynced, Send, TradesLost

BOOK = FIXTURES / "bybit" / "orderbook200-btcusdt-generated.jsonl.gz"  # built by bybit/build.py
DOCS = FIXTURES / "bybit" / "docs-frames.jsonl"
LINEAR, CURSOR = parse_instruments((FIXTURES / "bybit" / "instruments-linear.json").read_bytes())
SPOT, _ = parse_instruments((FIXTURES / "bybit" / "instruments-spot.json").read_bytes())
BTC = [i for i in LINEAR if i.venue_symbol == "BTCUSDT"]
MARKET = "bybit-BTCUSDT-future"


def _feed() -> BybitFeed:
    return BybitFeed(BTC, category="linear", depth=200)


def _replay(feed: BybitFeed, frames: list[tuple[int, str]]) -> list[object]:
    commands: list[object] = []
    for ns, frame in frames:
        commands.extend(feed.receive(frame, ns))
    return commands


def _independent(frames: list[tuple[int, str]]) -> dict[str, dict[Decimal, Decimal]]:
    book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    for _, frame in frames:
        message = json.loads(frame)
        if message["type"] == "snapshot":
            book = {"b": {}, "a": {}}
        for side in ("b", "a"):
            for price, size in message["data"][side]:
                if Decimal(size):
                    book[side][Decimal(price)] = Decimal(size)
                else:
                    book[side].pop(Decimal(price), None)
    return book


def test_the_book_rebuilds_with_every_update_id_checked() -> None:
    frames = read_frames(BOOK)
    feed = _feed()
    commands = _replay(feed, frames)
    assert feed.sequence_checks == len(frames) == 300 and feed.duplicates == 0
    assert of_type(commands, Resynced) == []
    restarts = [i for i, (_, f) in enumerate(frames) if json.loads(f)["data"]["u"] == 1]
    assert restarts == [150]  # the documented u=1 snapshot of a service restart
    snapshots = [e for e in events_of(commands) if isinstance(e, BookSnapshot)]
    assert [len(s.bids) for s in snapshots] == [200, 200]
    consumer = ConsumerBooks()
    consumer.apply(events_of(commands))
    bids, asks = consumer.books[MARKET].top()
    expected = _independent(frames)
    assert dict(bids) == {int(p * 10): int(q * 1000) for p, q in expected["b"].items()}
    assert dict(asks) == {int(p * 10): int(q * 1000) for p, q in expected["a"].items()}
    assert len(bids) == len(asks) == 200
    quotes = [e for e in events_of(commands) if isinstance(e, Quote)]
    assert quotes and all(q.bid_price < q.ask_price for q in quotes)


def test_a_skipped_update_id_resets_and_resubscribes() -> None:
    frames = read_frames(BOOK)
    feed = _feed()
    _replay(feed, frames[:10])
    commands = feed.receive(frames[11][1], frames[11][0])
    assert [r.market for r in of_type(commands, Resynced)] == [MARKET]  # type: ignore[attr-defined]
    assert events_of(commands) == [BookSnapshot(MARKET, (), (), 1748736001100000000)]
    sends = [json.loads(s.text) for s in of_type(commands, Send)]  # type: ignore[attr-defined]
    assert sends == [
        {"op": "unsubscribe", "args": ["orderbook.200.BTCUSDT"]},
        {"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]},
    ]
    assert _replay(feed, frames[12:15]) == []  # deltas wait for the new snapshot
    assert isinstance(events_of(feed.receive(frames[0][1], 1))[0], BookSnapshot)


def test_a_duplicate_delta_is_dropped_not_reapplied() -> None:
    frames = read_frames(BOOK)
    feed = _feed()
    _replay(feed, frames[:6])
    assert feed.receive(frames[4][1], frames[4][0]) == []
    assert feed.duplicates == 1
    assert of_type(_replay(feed, frames[6:]), Resynced) == []


def test_a_stale_snapshot_is_a_break() -> None:
    frames = read_frames(BOOK)
    feed = _feed()
    _replay(feed, frames[:8])
    stale = json.loads(frames[0][1])  # seq 63807812004, older than the book's
    commands = feed.receive(json.dumps(stale), frames[8][0])
    (resynced,) = of_type(commands, Resynced)
    assert "stale snapshot" in resynced.reason  # type: ignore[attr-defined]


def test_u_equal_1_is_a_snapshot_after_a_service_restart() -> None:
    frames = read_frames(BOOK)
    feed = _feed()
    _replay(feed, frames[:3])
    restart = json.loads(frames[3][1])
    restart["data"].update(u=1, seq=63807899999)  # a delta frame: u=1 alone makes it a snapshot
    events = events_of(feed.receive(json.dumps(restart), 5))
    assert isinstance(events[0], BookSnapshot) and len(events[0].bids) == 5
    follow = json.loads(frames[4][1])
    follow["data"].update(u=2, seq=63807900000)
    assert of_type(feed.receive(json.dumps(follow), 6), Resynced) == []


def test_trades_tickers_and_pongs_from_the_documented_frames() -> None:
    feed = BybitFeed(SPOT, category="spot")
    commands = _replay(feed, read_frames(DOCS))
    events = events_of(commands)
    assert events == [
        Ticker("btc", 2, 2110977, 2070493, 2142699, 2057500, 6780866843, 6, 1673853746003000000),
        Trade("bybit-btc-usdt-spot", "20f43950-d8dd-5b31-9112-a178eabfe64d", 1657850, 1000,
              Side.BUY, 1672304486865000000),
    ]  # fmt: skip
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1673853747000,
             "data": {"symbol": "BTCUSDT", "lastPrice": "21110.01"}}  # fmt: skip
    (merged,) = events_of(feed.receive(json.dumps(delta), 7))
    assert isinstance(merged, Ticker) and merged.price == 2111001 and merged.low_24h == 2057500


def test_a_disconnect_resets_books_and_reports_lost_trades() -> None:
    feed = _feed()
    _replay(feed, read_frames(BOOK)[:3])
    commands = feed.disconnected(9)
    assert events_of(commands) == [BookSnapshot(MARKET, (), (), 9)]
    assert of_type(commands, TradesLost) == []  # ids are not dense: the first trade after tells


def test_the_first_trade_after_a_reconnect_asks_for_the_backfill() -> None:
    feed = _feed()

    def trade(exec_id: str) -> str:
        item = {"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",
                "i": exec_id, "BT": False}  # fmt: skip
        return json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "data": [item]})

    assert of_type(feed.receive(trade("a-1"), 1), TradesLost) == []
    feed.disconnected(2)
    feed.connected()
    commands = feed.receive(trade("b-2"), 3)
    assert commands[0] == TradesLost(MARKET, "disconnected", "a-1", "b-2")
    assert [e.id for e in events_of(commands)] == ["b-2"]  # type: ignore[attr-defined]
    assert of_type(feed.receive(trade("c-3"), 4), TradesLost) == []


def test_pings_every_20_seconds_and_reconnects_when_silent() -> None:
    feed = _feed()
    sec = 1_000_000_000
    first = feed.heartbeat(0)
    assert [json.loads(s.text)["op"] for s in first] == ["ping"]  # type: ignore[attr-defined]
    assert feed.heartbeat(5 * sec) == []
    feed.receive('{"success":true,"ret_msg":"","op":"pong","args":["1"]}', 19 * sec)
    assert len(feed.heartbeat(20 * sec)) == 1
    assert isinstance(feed.heartbeat(50 * sec)[0], Reconnect)


def test_subscribe_requests_carry_at_most_10_topics() -> None:
    feed = BybitFeed(LINEAR * 2, category="linear")  # 2 symbols x 3 topics, twice over
    frames = [json.loads(s.text) for s in feed.connected()]  # type: ignore[attr-defined]
    assert all(len(f["args"]) <= 10 for f in frames)
    assert "orderbook.200.BTCUSDT" in frames[0]["args"]


def test_instrument_lists() -> None:
    assert CURSOR == "first%3DBTCUSDT%26last%3DXRPUSDT"
    assert instruments_path("linear", CURSOR).endswith("&cursor=" + CURSOR)
    btc = next(i.market for i in LINEAR if i.venue_symbol == "BTCUSDT")
    assert btc.id == "bybit-BTCUSDT-future" and btc.kind is MarketKind.FUTURE
    assert (btc.price_decimals, btc.size_decimals, btc.tick, btc.lot) == (1, 3, 1, 1)
    (spot,) = SPOT
    assert spot.market.id == "bybit-btc-usdt-spot"
    assert (spot.market.price_decimals, spot.market.size_decimals) == (2, 6)


def test_an_unreadable_frame_reconnects_instead_of_guessing() -> None:
    frame = read_frames(BOOK)[0][1].replace('"u":', '"x":', 1)
    (command,) = _feed().receive(frame, 1)
    assert isinstance(command, Reconnect) and "KeyError" in command.reason
