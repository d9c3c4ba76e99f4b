"""OKX v5 feed: the real 2022 capture replayed with every book checksum verified."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal

from tests.unit.connectors.frames import FIXTURES, ConsumerBooks, events_of, of_type, read_frames

from tickcast.model.events import BookSnapshot, Quote, Side, Ticker, Trade
from tickcast.model.markets import MarketKind
from tickcast.sources.connectors.okx import OkxFeed, okx_checksum, parse_instruments
from tickcast.sources.connectors.protocol import (
    Instrument,
    Reconnect,
    Resynced,
    Send,
    TradesLost,
)

CAPTURE = FIXTURES / "okx" / "ws-v5-20220513.jsonl.gz"


def _instruments() -> list[Instrument]:
    found: list[Instrument] = []
    for kind in ("spot", "swap", "futures"):
        found += parse_instruments((FIXTURES / "okx" / f"instruments-{kind}.json").read_bytes())
    return found


def _feed() -> OkxFeed:
    wanted = {"BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"}
    return OkxFeed([i for i in _instruments() if i.venue_symbol in wanted])


def _replay(feed: OkxFeed, frames: list[tuple[int, str]]) -> list[object]:
    commands: list[object] = []
    for ns, frame in frames:
        commands.extend(feed.receive(frame, ns))
    return commands


def _independent(frames: list[tuple[int, str]]) -> dict[str, dict[str, dict[Decimal, Decimal]]]:
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for _, frame in frames:
        message = json.loads(frame)
        if message.get("arg", {}).get("channel") != "books" or "data" not in message:
            continue
        inst = message["arg"]["instId"]
        if message["action"] == "snapshot":
            books[inst] = {"bids": {}, "asks": {}}
        for data in message["data"]:
            for side in ("bids", "asks"):
                for price, size, *_ in data[side]:
                    if Decimal(size) == 0:
                        books[inst][side].pop(Decimal(price), None)
                    else:
                        books[inst][side][Decimal(price)] = Decimal(size)
    return books


def test_the_real_capture_rebuilds_with_every_checksum_verified() -> None:
    frames = read_frames(CAPTURE)
    feed = _feed()
    commands = _replay(feed, frames)
    book_frames = [f for _, f in frames if '"channel":"books"' in f and '"data"' in f]
    assert feed.checksums_verified == len(book_frames) == 290
    assert of_type(commands, Resynced) == [] and of_type(commands, TradesLost) == []
    consumer = ConsumerBooks()
    consumer.apply(events_of(commands))
    markets = {i.venue_symbol: i.market for i in _instruments()}
    for inst, book in _independent(frames).items():
        market = markets[inst]
        bids, asks = consumer.books[market.id].top()
        ps, ss = Decimal(10) ** market.price_decimals, Decimal(10) ** market.size_decimals
        assert dict(bids) == {int(p * ps): int(q * ss) for p, q in book["bids"].items()}
        assert dict(asks) == {int(p * ps): int(q * ss) for p, q in book["asks"].items()}
        assert len(bids) >= 50 and len(asks) >= 50


def test_trades_tickers_and_quotes_from_the_capture() -> None:
    events = events_of(_replay(_feed(), read_frames(CAPTURE)))
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) == 74 and len({(t.market, t.id) for t in trades}) == 74
    first = next(t for t in trades if t.market == "okx-btc-usdt-spot")
    assert first == Trade(
        "okx-btc-usdt-spot", "338476307", 302360, 20000, Side.BUY, 1652459224818000000
    )
    tickers = [e for e in events if isinstance(e, Ticker)]
    assert tickers and {t.asset for t in tickers} == {"btc"}  # spot USD(T) markets only
    assert tickers[0].price == 302360 and tickers[0].volume_24h == 1760213085371
    quotes = [e for e in events if isinstance(e, Quote)]
    assert {q.market for q in quotes} == {
        "okx-btc-usdt-spot", "okx-BTC-USD-220527-future", "okx-UNI-USD-SWAP-future",
    }  # fmt: skip
    assert all(q.bid_price < q.ask_price for q in quotes)


def _with_sequence(frames: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The capture predates seqId/prevSeqId (added by OKX in 2023): add them as OKX documents."""
    last: dict[str, int] = {}
    out: list[tuple[int, str]] = []
    for ns, frame in frames:
        message = json.loads(frame)
        if message.get("arg", {}).get("channel") == "books" and "data" in message:
            inst = message["arg"]["instId"]
            previous = -1 if message["action"] == "snapshot" else last[inst]
            last[inst] = seq = (previous if previous > 0 else 10_000) + 3
            message["data"][0].update(prevSeqId=previous, seqId=seq)
            frame = json.dumps(message)
        out.append((ns, frame))
    return out


def _book_index(frames: list[tuple[int, str]], inst: str, nth: int) -> int:
    hits = [i for i, (_, f) in enumerate(frames) if '"books"' in f and inst in f and "data" in f]
    return hits[nth]


def test_sequence_ids_are_checked_on_every_book_message() -> None:
    frames = _with_sequence(read_frames(CAPTURE))
    feed = _feed()
    commands = _replay(feed, frames)
    assert feed.sequence_checks == feed.checksums_verified == 290
    assert of_type(commands, Resynced) == []


def test_a_skipped_sequence_id_resets_and_resubscribes() -> None:
    frames = _with_sequence(read_frames(CAPTURE))
    feed = _feed()
    skip = _book_index(frames, "BTC-USDT", 10)
    _replay(feed, frames[:skip])
    commands = _replay(feed, frames[skip + 1 : skip + 40])
    resynced = of_type(commands, Resynced)
    assert len(resynced) == 1 and resynced[0].market == "okx-btc-usdt-spot"  # type: ignore[attr-defined]
    assert "prevSeqId" in resynced[0].reason  # type: ignore[attr-defined]
    resets = [e for e in events_of(commands) if isinstance(e, BookSnapshot)]
    assert [(r.market, r.bids, r.asks) for r in resets] == [("okx-btc-usdt-spot", (), ())]
    sends = [json.loads(s.text) for s in of_type(commands, Send)]  # type: ignore[attr-defined]
    assert sends == [
        {"op": "unsubscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]},
        {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]},
    ]
    # the other books carried on untouched
    snapshots = [e for e in events_of(commands) if isinstance(e, BookSnapshot)]
    assert {e.market for e in snapshots} == {"okx-btc-usdt-spot"}


def test_a_replayed_old_update_is_a_break_not_a_silent_reapply() -> None:
    frames = _with_sequence(read_frames(CAPTURE))
    feed = _feed()
    at = _book_index(frames, "BTC-USD-220527", 5)
    _replay(feed, frames[:at])
    old = frames[_book_index(frames, "BTC-USD-220527", 2)]
    commands = feed.receive(old[1], old[0])
    assert [r.market for r in of_type(commands, Resynced)] == ["okx-BTC-USD-220527-future"]  # type: ignore[attr-defined]


def test_a_corrupted_checksum_resets_the_book() -> None:
    frames = read_frames(CAPTURE)
    feed = _feed()
    at = _book_index(frames, "UNI-USD-SWAP", 3)
    _replay(feed, frames[:at])
    message = json.loads(frames[at][1])
    message["data"][0]["checksum"] += 1
    commands = feed.receive(json.dumps(message), frames[at][0])
    assert [r.market for r in of_type(commands, Resynced)] == ["okx-UNI-USD-SWAP-future"]  # type: ignore[attr-defined]
    assert events_of(commands)[-1] == BookSnapshot(
        "okx-UNI-USD-SWAP-future", (), (), int(message["data"][0]["ts"]) * 1_000_000
    )
    # later updates wait for a snapshot; then the book is back
    later = frames[_book_index(frames, "UNI-USD-SWAP", 4)]
    assert events_of(feed.receive(later[1], later[0])) == []
    snapshot = frames[_book_index(frames, "UNI-USD-SWAP", 0)]
    assert isinstance(events_of(feed.receive(snapshot[1], snapshot[0]))[0], BookSnapshot)


def test_trade_gaps_duplicates_and_disconnects() -> None:
    feed = _feed()

    def trade(trade_id: int, count: int = 1) -> str:
        item = {"instId": "BTC-USDT", "tradeId": str(trade_id), "px": "30000.1", "sz": "0.5",
                "side": "sell", "ts": "1652459224818", "count": str(count)}  # fmt: skip
        return json.dumps({"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [item]})

    assert len(events_of(feed.receive(trade(10), 1))) == 1
    assert feed.receive(trade(10), 2) == []
    assert of_type(feed.receive(trade(13, count=3), 3), TradesLost) == []  # 11..13 aggregated
    gap = feed.receive(trade(20), 4)
    assert gap[0] == TradesLost("okx-btc-usdt-spot", "trade id gap", "13", "20")
    assert of_type(feed.disconnected(5), TradesLost) == []  # the ids after the reconnect tell
    feed.connected()
    assert of_type(feed.receive(trade(21), 6), TradesLost) == []  # nothing traded: no loss
    feed.disconnected(7)
    feed.connected()
    after = feed.receive(trade(27, count=2), 8)  # 26..27 aggregated: 22..25 were lost
    assert after[0] == TradesLost("okx-btc-usdt-spot", "disconnected", "21", "26")
    assert [e.id for e in events_of(after)] == ["27"]  # type: ignore[attr-defined]


def test_ping_when_quiet_then_reconnect_when_silent() -> None:
    feed = OkxFeed([], ping_after_ns=20, stale_after_ns=30)
    assert feed.heartbeat(0) == []
    assert feed.heartbeat(21) == [Send("ping")]
    assert feed.heartbeat(25) == []  # one ping per silence
    assert feed.receive("pong", 26) == []
    assert feed.heartbeat(40) == []
    assert isinstance(feed.heartbeat(57)[0], Reconnect)


def test_a_service_upgrade_notice_reconnects() -> None:
    notice = '{"event":"notice","code":"64008","msg":"The connection will soon be closed"}'
    assert isinstance(_feed().receive(notice, 1)[0], Reconnect)


def test_instruments_from_the_real_instrument_lists() -> None:
    by_id = {i.market.id: i.market for i in _instruments()}
    assert sorted(by_id) == [
        "okx-BTC-USD-220527-future", "okx-BTC-USD-SWAP-future", "okx-BTC-USDT-SWAP-future",
        "okx-UNI-USD-SWAP-future", "okx-btc-usdt-spot", "okx-eth-usdt-spot",
    ]  # fmt: skip
    spot = by_id["okx-btc-usdt-spot"]
    assert (spot.price_decimals, spot.size_decimals, spot.tick, spot.lot) == (1, 8, 1, 1)
    swap = by_id["okx-BTC-USDT-SWAP-future"]
    assert swap.kind is MarketKind.FUTURE and (swap.base, swap.quote) == ("btc", "usdt")


def test_the_documented_checksum_example_shape() -> None:
    # OKX docs: bids 3366.1/7, 3366/6 and asks 3366.8/9, 3368/8 interleave best first
    value = okx_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    crc = zlib.crc32(b"3366.1:7:3366.8:9:3366:6:3368:8")
    assert value == crc - (1 << 32) if crc >= 1 << 31 else crc
    assert -(1 << 31) <= okx_checksum([("1", "1")], []) < (1 << 31)


def test_one_subscribe_frame_for_every_channel() -> None:
    (frame,) = _feed().connected()
    args = json.loads(frame.text)["args"]  # type: ignore[attr-defined]
    assert {a["channel"] for a in args} == {"books", "trades", "tickers"} and len(args) == 9


def test_many_instruments_are_subscribed_in_several_requests() -> None:
    base = _instruments()[0]
    instruments = [Instrument(f"X{n}-USDT", base.market) for n in range(240)]  # x 3 channels
    frames = [json.loads(f.text)["args"] for f in OkxFeed(instruments).connected()]  # type: ignore[attr-defined]
    assert [len(args) for args in frames] == [200, 200, 200, 120]


def test_an_unreadable_frame_reconnects_instead_of_guessing() -> None:
    (command,) = _feed().receive("{not json", 1)
    assert isinstance(command, Reconnect) and "unreadable OKX message" in command.reason
