"""Coinbase Advanced Trade feed: the real 2021 capture (re-framed) with every sequence checked."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.unit.connectors.frames import FIXTURES, ConsumerBooks, events_of, of_type, read_frames

from tickcast.model.events import BookDelta, BookSnapshot, Quote, Side, Ticker, Trade
from tickcast.sources.connectors.coinbase import CoinbaseFeed, parse_products
from tickcast.sources.connectors.protocol import Reconnect, Resynced, Send, TradesLost

CAPTURE = FIXTURES / "coinbase" / "advanced-trade.jsonl.gz"
INSTRUMENTS = [
    i
    for i in parse_products((FIXTURES / "coinbase" / "exchange-products.json").read_bytes())
    if i.venue_symbol in ("SKL-USD", "BAND-GBP")
]


def _replay(feed: CoinbaseFeed, frames: list[tuple[int, str]]) -> list[object]:
    commands: list[object] = []
    for ns, frame in frames:
        commands.extend(feed.receive(frame, ns))
    return commands


def _independent(frames: list[tuple[int, str]]) -> dict[str, dict[str, dict[Decimal, Decimal]]]:
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for _, frame in frames:
        message = json.loads(frame)
        if message["channel"] != "l2_data":
            continue
        for event in message["events"]:
            if event["type"] == "snapshot":
                books[event["product_id"]] = {"bid": {}, "offer": {}}
            side_books = books[event["product_id"]]
            for update in event["updates"]:
                side = side_books[update["side"]]
                price, size = Decimal(update["price_level"]), Decimal(update["new_quantity"])
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
    return books


def test_the_capture_rebuilds_with_every_sequence_number_checked() -> None:
    frames = read_frames(CAPTURE)
    feed = CoinbaseFeed(INSTRUMENTS)
    commands = _replay(feed, frames)
    assert feed.sequence_checks == len(frames) == 3182
    assert of_type(commands, Resynced) == [] and of_type(commands, TradesLost) == []
    consumer = ConsumerBooks()
    consumer.apply(events_of(commands))
    for instrument in INSTRUMENTS:
        market = instrument.market
        ps, ss = Decimal(10) ** market.price_decimals, Decimal(10) ** market.size_decimals
        expected = _independent(frames)[instrument.venue_symbol]
        bids, asks = consumer.books[market.id].top()
        assert dict(bids) == {int(p * ps): int(q * ss) for p, q in expected["bid"].items()}
        assert dict(asks) == {int(p * ps): int(q * ss) for p, q in expected["offer"].items()}
        assert len(bids) > 50 and len(asks) > 50


def test_trades_are_dense_and_take_the_aggressor_side() -> None:
    events = events_of(_replay(CoinbaseFeed(INSTRUMENTS), read_frames(CAPTURE)))
    trades = [e for e in events if isinstance(e, Trade)]
    skl = [t for t in trades if t.market == "coinbase-skl-usd-spot"]
    assert len(skl) == 52 and len({t.id for t in trades}) == len(trades)
    assert [int(t.id) for t in skl] == list(range(int(skl[0].id), int(skl[0].id) + 52))
    # the capture's first SKL-USD match: maker side "sell", so a buyer hit the book
    assert skl[0] == Trade(
        "coinbase-skl-usd-spot", "1568268", 7910, 4500, Side.BUY, 1618677817121358000
    )


def test_tickers_and_quotes() -> None:
    events = events_of(_replay(CoinbaseFeed(INSTRUMENTS), read_frames(CAPTURE)))
    tickers = [e for e in events if isinstance(e, Ticker)]
    assert {t.asset for t in tickers} == {"skl"}  # BAND-GBP is not a USD market
    assert tickers[0] == Ticker("skl", 4, 7904, 7055, 8098, 6915, 342200285, 1, tickers[0].time_ns)
    quotes = [e for e in events if isinstance(e, Quote)]
    assert {q.market for q in quotes} == {"coinbase-skl-usd-spot", "coinbase-band-gbp-spot"}
    assert all(q.bid_price < q.ask_price for q in quotes)


def test_a_skipped_sequence_number_restarts_every_book() -> None:
    frames = read_frames(CAPTURE)
    feed = CoinbaseFeed(INSTRUMENTS)
    _replay(feed, frames[:500])
    commands = feed.receive(frames[501][1], frames[501][0])  # frame 500 lost
    assert sorted(r.market for r in of_type(commands, Resynced)) == [  # type: ignore[attr-defined]
        "coinbase-band-gbp-spot", "coinbase-skl-usd-spot",
    ]  # fmt: skip
    resets = [e for e in events_of(commands) if isinstance(e, BookSnapshot)]
    assert len(resets) == 2 and all(r.bids == () == r.asks for r in resets)
    sends = [json.loads(s.text) for s in of_type(commands, Send)]  # type: ignore[attr-defined]
    assert [(s["type"], s["channel"]) for s in sends] == [
        ("unsubscribe", "level2"), ("subscribe", "level2"),
    ]  # fmt: skip
    # updates wait for the fresh snapshots
    later = [f for f in frames[502:600] if '"l2_data"' in f[1]]
    deltas = [e for e in events_of(_replay(feed, later)) if isinstance(e, BookDelta)]
    assert deltas == []
    assert of_type(_replay(feed, frames[600:700]), Resynced) == []  # numbering carries on


def test_an_update_before_its_snapshot_is_dropped() -> None:
    frames = read_frames(CAPTURE)
    feed = CoinbaseFeed(INSTRUMENTS)
    update = next(f for f in frames if '"type":"update","product_id"' in f[1])
    assert feed.receive(update[1], update[0]) == []


def _trades_message(sequence: int, kind: str, ids: list[int]) -> str:
    trades = [
        {"trade_id": str(i), "product_id": "SKL-USD", "price": "0.7912", "size": "10.5",
         "side": "BUY", "time": "2021-04-17T16:43:37.140491Z"}
        for i in ids
    ]  # fmt: skip
    events = [{"type": kind, "trades": trades}]
    return json.dumps({"channel": "market_trades", "sequence_num": sequence, "events": events})


def test_trade_gaps_disconnects_and_the_resubscription_snapshot() -> None:
    feed = CoinbaseFeed(INSTRUMENTS)
    feed.connected()
    assert events_of(feed.receive(_trades_message(0, "snapshot", [12, 11, 10]), 1)) == []
    assert [t.id for t in events_of(feed.receive(_trades_message(1, "update", [11, 13]), 2))] == [  # type: ignore[attr-defined]
        "13"
    ]
    gap = feed.receive(_trades_message(2, "update", [15]), 3)
    lost = TradesLost("coinbase-skl-usd-spot", "trade id gap", "13", "15")
    assert of_type(gap, TradesLost) == [lost]
    assert gap.index(lost) == 0  # before the trade after the loss
    assert of_type(feed.disconnected(4), TradesLost) == []  # the next ids will tell
    feed.connected()
    after = feed.receive(_trades_message(0, "snapshot", [18, 17, 16, 15, 14]), 5)
    assert [t.id for t in events_of(after)] == ["16", "17", "18"]  # type: ignore[attr-defined]
    assert of_type(after, TradesLost) == []  # the snapshot covered the disconnect
    feed.disconnected(6)
    feed.connected()
    short = feed.receive(_trades_message(0, "snapshot", [25, 24]), 7)
    assert of_type(short, TradesLost) == [
        TradesLost("coinbase-skl-usd-spot", "trade id gap", "18", "24")
    ]
    assert [t.id for t in events_of(short)] == ["24", "25"]  # type: ignore[attr-defined]


def test_silence_beyond_the_heartbeats_reconnects() -> None:
    feed = CoinbaseFeed(INSTRUMENTS, stale_after_ns=5)
    assert feed.heartbeat(100) == []
    heartbeat = {"channel": "heartbeats", "sequence_num": 0,
                 "events": [{"current_time": "x", "heartbeat_counter": "1"}]}  # fmt: skip
    feed.receive(json.dumps(heartbeat), 101)
    assert feed.heartbeat(106) == []
    assert isinstance(feed.heartbeat(107)[0], Reconnect)


def test_subscribe_frames_one_channel_each() -> None:
    frames = [json.loads(s.text) for s in CoinbaseFeed(INSTRUMENTS).connected()]  # type: ignore[attr-defined]
    assert [f["channel"] for f in frames] == ["level2", "market_trades", "ticker", "heartbeats"]
    assert frames[0] == {
        "type": "subscribe", "product_ids": ["BAND-GBP", "SKL-USD"], "channel": "level2",
    }  # fmt: skip


def test_products_of_both_rest_apis() -> None:
    old = {i.market.id: i.market for i in INSTRUMENTS}
    skl = old["coinbase-skl-usd-spot"]
    assert (skl.price_decimals, skl.size_decimals, skl.tick, skl.lot) == (4, 1, 1, 1)
    # Advanced Trade shape, per its "List Public Products" docs
    body = {"products": [
        {"product_id": "BTC-USD", "base_currency_id": "BTC", "quote_currency_id": "USD",
         "base_increment": "0.00000001", "quote_increment": "0.01", "price_increment": "0.01",
         "product_type": "SPOT"},
        {"product_id": "BIT-28JUL23-CDE", "base_currency_id": "", "quote_currency_id": "USD",
         "base_increment": "1", "quote_increment": "5", "price_increment": "5",
         "product_type": "FUTURE"},
    ], "num_products": 2}  # fmt: skip
    (btc,) = parse_products(json.dumps(body))
    assert btc.venue_symbol == "BTC-USD" and btc.market.id == "coinbase-btc-usd-spot"
    assert (btc.market.price_decimals, btc.market.size_decimals) == (2, 8)


def test_an_unreadable_frame_reconnects_instead_of_guessing() -> None:
    event = {"type": "snapshot", "product_id": "SKL-USD", "updates": [{}]}
    broken = {"channel": "l2_data", "sequence_num": 0, "events": [event]}
    (command,) = CoinbaseFeed(INSTRUMENTS).receive(json.dumps(broken), 1)
    assert isinstance(command, Reconnect) and "KeyError" in command.reason
