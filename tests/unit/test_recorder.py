"""The Recorder keeps bounded, ordered history from bus envelopes."""

from __future__ import annotations

from tickcast.model import AssetMetric, BookDelta, BookSnapshot, Candle, Envelope, Side, Trade
from tickcast.state import StateKeeper
from tickcast.state.recorder import CandleLog, Recorder, between

M = "binance-btc-usdt-spot"
T = 1_767_225_600_000_000_000
S = 1_000_000_000


def envelope(stream: str, seq: int, event: object) -> Envelope:
    return Envelope(stream=stream, seq=seq, epoch="e", event=event, published_ns=T)  # type: ignore[arg-type]


def test_retention_order_and_book_sampling() -> None:
    keeper = StateKeeper()
    recorder = Recorder(keeper=keeper, trades_per_market=3, books_per_market=2, book_interval_s=10)
    trades = [
        envelope(f"trades:{M}", i, Trade(M, str(i), 100, 1, Side.BUY, T + i * S)) for i in range(5)
    ]
    recorder.on_envelopes(trades)
    assert [r.item.id for r in recorder.trades[M]] == ["2", "3", "4"]
    assert [r.item.id for r in between(recorder.trades[M], T + 3 * S, None)] == ["3", "4"]
    rids = [r.rid for r in recorder.trades[M]]
    assert rids == sorted(rids)
    books = [
        envelope(f"book:{M}", 1, BookSnapshot(M, ((99, 1),), ((101, 1),), T)),
        envelope(f"book:{M}", 2, BookDelta(M, ((98, 2),), (), T + 5 * S)),
        envelope(f"book:{M}", 3, BookDelta(M, ((97, 2),), (), T + 11 * S)),
    ]
    for item in books:
        keeper.apply(item)
        recorder.on_envelopes([item])
    assert [r.item.seq for r in recorder.books[M]] == [1, 3]  # every 10 s, the first at once
    assert recorder.books[M][-1].item.levels() == (((99, 1), (98, 2), (97, 2)), ((101, 1),))
    assert recorder.books[M][-1].item.levels(1) == (((99, 1),), ((101, 1),))
    metrics = [
        envelope("metrics:btc", i, AssetMetric("btc", "PriceUSD", 100 + i, 2, T + i * 20 * S))
        for i in range(4)
    ]
    recorder.on_envelopes(metrics)
    assert len(recorder.metric_seconds[("btc", "PriceUSD")]) == 4
    minutes = recorder.metric_minutes[("btc", "PriceUSD")]
    assert [r.item.value for r in minutes] == [102, 103]  # each minute's last value


def test_candle_log_is_bounded_and_round_trips() -> None:
    log = CandleLog(M, "1h", 4)
    candles = [Candle(M, "1h", T + i, 10 + i, 12 + i, 9, 11, 5, 55, 3, T + i + 1) for i in range(9)]
    for rid, candle in enumerate(candles):
        log.append(rid, candle)
    assert len(log) == 4
    assert [r.item for r in log] == candles[-4:]
    assert [r.rid for r in log] == [5, 6, 7, 8] and [r.time_ns for r in log] == [
        T + 5,
        T + 6,
        T + 7,
        T + 8,
    ]
