"""Plans: built-ins, TOML loading and validation, overrides and stream entitlement."""

from __future__ import annotations

import dataclasses

import pytest

from tickcast.auth.plans import Plan, builtin_plans, load_plans, parse_plans
from tickcast.errors import ConfigError
from tickcast.model.streams import StreamKey

FULL_PLAN = """
[plans.basic]
stream_kinds = ["trades"]
markets = ["coinbase-*-spot"]
max_connections = 1
max_subscriptions = 5
conflation_ms = 500
history_depth = 10
predictions = false
feeds = []
requests_per_minute = 30
publish = false
"""


def allows(plan: Plan, stream: str) -> bool:
    return plan.allows_stream(StreamKey.parse(stream))


def test_builtin_plans_are_the_documented_four() -> None:
    """Built-ins are free, pro, publisher and admin with the documented limits (and bench)."""
    plans = load_plans()
    assert set(plans) == {"free", "pro", "publisher", "admin", "bench"}
    free, pro, publisher, admin = (plans[n] for n in ("free", "pro", "publisher", "admin"))
    assert (free.max_connections, free.max_subscriptions, free.conflation_ms) == (2, 20, 1000)
    assert (free.history_depth, free.predictions, free.feeds) == (1000, False, frozenset())
    assert (pro.max_connections, pro.max_subscriptions, pro.conflation_ms) == (10, 500, 0)
    assert pro.history_depth == 100000 and pro.predictions and not pro.publish
    assert pro.feeds == {"socketio-feed", "predictions-ws"}
    assert publisher == dataclasses.replace(pro, name="publisher", publish=True)
    assert admin.max_connections == 100 and admin.publish


def test_bench_plan_is_pro_with_no_practical_connection_limit() -> None:
    """The benchmarks' plan: pro, with connection limits a fan-out harness never reaches; every
    other plan keeps the Socket.IO feed's limit of 2 connections per user."""
    plans = load_plans()
    assert plans["bench"] == dataclasses.replace(
        plans["pro"], name="bench", max_connections=100_000, max_feed_connections=100_000
    )
    assert {n: p.max_feed_connections for n, p in plans.items() if n != "bench"} == dict.fromkeys(
        ("free", "pro", "publisher", "admin"), 2
    )


def test_max_feed_connections_is_optional_and_validated() -> None:
    assert parse_plans(FULL_PLAN)["basic"].max_feed_connections == 2
    custom = parse_plans(FULL_PLAN + "max_feed_connections = 0\n")["basic"]
    assert custom.max_feed_connections == 0
    with pytest.raises(ConfigError, match="max_feed_connections"):
        parse_plans(FULL_PLAN + "max_feed_connections = -1\n")


def test_free_plan_allows_binance_spot_and_all_assets() -> None:
    """free grants binance spot markets, every asset, and nothing else."""
    free = load_plans()["free"]
    assert allows(free, "trades:binance-btc-usdt-spot")
    assert allows(free, "candles:binance-eth-usdt-spot:1m")
    assert allows(free, "quotes:binance-eth-btc-spot")
    assert allows(free, "ticker:btc")
    assert allows(free, "metrics:ETH")
    assert not allows(free, "trades:coinbase-btc-usd-spot")
    assert not allows(free, "trades:binance-BTCUSDT-future")
    assert not allows(free, "book:binance-btc-usdt-spot")
    assert not allows(free, "predictions:momentum:v1")


def test_pro_plan_allows_everything() -> None:
    """pro grants every kind, market, asset and predictions."""
    pro = load_plans()["pro"]
    for stream in (
        "book:coinbase-btc-usd-spot",
        "trades:bybit-BTCUSDT-future",
        "ticker:sol",
        "predictions:momentum:v1",
        "orders:binance-btc-usdt-spot",
    ):
        assert allows(pro, stream)
    assert pro.allows_feed("socketio-feed") and not pro.allows_feed("other-feed")
    assert load_plans()["admin"].allows_feed("other-feed")


def test_plan_allows_stream_matches_derivative_patterns() -> None:
    """Patterns such as *USDT-future match market ids case-sensitively."""
    plan = load_plans()["pro"].with_overrides(markets=["*USDT-future"])
    assert allows(plan, "trades:bybit-BTCUSDT-future")
    assert not allows(plan, "trades:bybit-BTCUSD-future")
    assert not allows(plan, "trades:bybit-btcusdt-future")
    assert not allows(plan, "ticker:btc")


def test_plan_allows_stream_predictions_need_flag() -> None:
    """A predictions kind is useless without predictions = true."""
    plan = load_plans()["pro"].with_overrides(predictions=False)
    assert not allows(plan, "predictions:momentum:v1")


def test_plan_asset_patterns_match_only_assets() -> None:
    """asset: patterns match asset codes (case-insensitively) but never markets."""
    plan = load_plans()["pro"].with_overrides(markets=["asset:btc"])
    assert allows(plan, "ticker:BTC")
    assert not allows(plan, "ticker:eth")
    assert not allows(plan, "trades:binance-btc-usdt-spot")


def test_load_plans_parses_a_full_table() -> None:
    """A complete [plans.x] table becomes a Plan and keeps the built-ins."""
    plans = load_plans(FULL_PLAN)
    basic = plans["basic"]
    assert basic.stream_kinds == {"trades"}
    assert basic.markets == ("coinbase-*-spot",)
    assert basic.requests_per_minute == 30
    assert "free" in plans


def test_prediction_connection_cap_is_optional_and_off_in_the_builtins() -> None:
    """``max_prediction_connections`` may be left out (0: any number of /ws connections)."""
    assert {p.max_prediction_connections for p in builtin_plans().values()} == {0}
    assert load_plans(FULL_PLAN)["basic"].max_prediction_connections == 0
    capped = load_plans(FULL_PLAN + "max_prediction_connections = 3\n")["basic"]
    assert capped.max_prediction_connections == 3
    assert (
        builtin_plans()["pro"]
        .with_overrides(max_prediction_connections=5)
        .as_dict()["max_prediction_connections"]
        == 5
    )
    with pytest.raises(ConfigError, match="max_prediction_connections"):
        load_plans(FULL_PLAN + "max_prediction_connections = -1\n")


def test_load_plans_user_plan_replaces_builtin() -> None:
    """A user plan named like a built-in replaces it."""
    plans = load_plans(FULL_PLAN.replace("basic", "free"))
    assert plans["free"].markets == ("coinbase-*-spot",)


def test_load_plans_inherits_fills_missing_keys() -> None:
    """inherits takes unset keys from a built-in, from the same file, or from the replaced plan."""
    text = """
    [plans.pro]
    inherits = "pro"
    max_connections = 3
    [plans.team]
    inherits = "pro2"
    publish = true
    [plans.pro2]
    inherits = "pro"
    max_subscriptions = 7
    """
    plans = load_plans(text)
    assert plans["pro"].max_connections == 3
    assert plans["pro2"].max_connections == 3 and plans["pro2"].max_subscriptions == 7
    assert plans["team"].publish and plans["team"].max_subscriptions == 7


def test_load_plans_ignores_other_tables() -> None:
    """Only [plans.*] tables are read from a config file."""
    assert set(load_plans("[server]\nport = 1\n")) == set(builtin_plans())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_connections = 1", "max_connections = 0", "max_connections = 0: must be >= 1"),
        ("conflation_ms = 500", "conflation_ms = -1", "conflation_ms = -1: must be >= 0"),
        ('stream_kinds = ["trades"]', 'stream_kinds = ["tape"]', "'tape' is not '*' or one of"),
        ("feeds = []", 'feeds = ["Bad Feed"]', "'Bad Feed' is not a feature name"),
        ("predictions = false", 'predictions = "no"', "predictions = 'no': must be true or"),
        ("history_depth = 10", "history_depth = true", "history_depth = True: must be an int"),
        ('markets = ["coinbase-*-spot"]', 'markets = "x"', "markets = 'x': must be a list"),
        ('markets = ["coinbase-*-spot"]', 'markets = ["asset:"]', "'asset:' is not a valid"),
        ("publish = false", 'publish = false\ncolour = "red"', "unknown key 'colour'"),
    ],
)
def test_load_plans_rejects_bad_values(old: str, new: str, message: str) -> None:
    """Bad values raise ConfigError naming the plan, key and value."""
    with pytest.raises(ConfigError) as info:
        load_plans(FULL_PLAN.replace(old, new))
    assert info.value.message.startswith("plan 'basic': ")
    assert message in info.value.message


def test_load_plans_rejects_missing_keys() -> None:
    """A table without inherits must set every key."""
    with pytest.raises(ConfigError, match="missing key.*publish"):
        load_plans(FULL_PLAN.replace("publish = false", ""))


def test_load_plans_rejects_bad_toml_and_cycles() -> None:
    """Invalid TOML, unknown parents and inheritance cycles are ConfigErrors."""
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_plans("[plans.x")
    with pytest.raises(ConfigError, match="no such plan"):
        load_plans('[plans.x]\ninherits = "nope"\n')
    with pytest.raises(ConfigError, match="cycle"):
        load_plans('[plans.a]\ninherits = "b"\n[plans.b]\ninherits = "a"\n')
    with pytest.raises(ConfigError, match="invalid plan name"):
        load_plans('[plans.Big]\ninherits = "pro"\n')


def test_plan_with_overrides_validates() -> None:
    """with_overrides normalises collections and rejects bad or unknown fields."""
    free = load_plans()["free"]
    plan = free.with_overrides(max_subscriptions=50, feeds=["socketio-feed"])
    assert plan.max_subscriptions == 50 and plan.feeds == frozenset({"socketio-feed"})
    assert plan.name == "free" and free.max_subscriptions == 20
    with pytest.raises(ConfigError, match="unknown override"):
        free.with_overrides(colour="red")
    with pytest.raises(ConfigError, match="max_connections"):
        free.with_overrides(max_connections=-5)


def test_parse_plans_returns_only_the_texts_plans() -> None:
    """parse_plans returns the plans of the text, not the base."""
    assert set(parse_plans(FULL_PLAN)) == {"basic"}
