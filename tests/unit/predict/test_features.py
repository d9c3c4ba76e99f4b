"""Live features from events, and labelled rows from recorded events."""

from __future__ import annotations

import pytest

from tickcast.model.events import BookSnapshot, Quote, Side, Trade
from tickcast.predict.features import FeatureComputer, labelled_rows, parse_features
from tickcast.predict.spec import ModelError

M = "acme-foo-usd-spot"
S = 1_000_000_000


def trade(second: int, price: int, size: int) -> Trade:
    return Trade(M, f"t{second}", price, size, Side.BUY, second * S)


def test_features_over_windows() -> None:
    names = ["return_2s", "volume_2s", "trades_2s", "spread", "imbalance", "imbalance_2"]
    computer = FeatureComputer(M, parse_features(names), size_decimals=3)
    assert computer.vector() is None
    computer.on_event(trade(10, 10_000, 1_000))
    computer.on_event(trade(11, 10_100, 2_000))
    computer.on_event(trade(12, 10_200, 500))
    assert computer.vector() is None  # no quote yet
    computer.on_event(Quote(M, 10_190, 3_000, 10_210, 1_000, 12 * S))
    computer.on_event(BookSnapshot(M, ((10_190, 3_000), (10_180, 1_000)), ((10_210, 1_000),),
                                   12 * S))  # fmt: skip
    computer.on_event(Trade("other-x-y-spot", "z", 1, 1, Side.BUY, 99 * S))  # ignored
    ret, volume, trades, spread, imbalance, imbalance_2 = computer.vector() or []
    assert ret == pytest.approx(10_200 / 10_000 - 1)  # reference: the trade at t=10
    assert volume == pytest.approx(2.5) and trades == 2  # trades after t=10
    assert spread == pytest.approx(20 / 10_200)
    assert imbalance == pytest.approx((3_000 - 1_000) / 4_000)
    assert imbalance_2 == pytest.approx((4_000 - 1_000) / 5_000)


def test_unknown_feature_names() -> None:
    for bad in ("return_0s", "return_5m", "volume", "imbalance_99", "rsi"):
        with pytest.raises(ModelError, match="unknown live feature"):
            parse_features([bad])


def test_labelled_rows_look_ahead() -> None:
    events = [trade(t, 100 + (t % 2), 1) for t in range(10)]
    computer = FeatureComputer(M, parse_features(["return_1s"]), size_decimals=0)
    rows = labelled_rows(events, computer, horizon_s=1, model_type="class")
    assert len(rows) == 9  # the last trade has no future
    assert [r["target"] for r in rows[:3]] == ["up", "down", "up"]
    computer = FeatureComputer(M, parse_features(["return_1s"]), size_decimals=0)
    reg = labelled_rows(events, computer, horizon_s=1, model_type="reg")
    assert reg[0]["target"] == pytest.approx(0.01)
