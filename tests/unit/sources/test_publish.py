"""The publish API's batch format: validation and exact conversion."""

from __future__ import annotations

import pytest

from tickcast.errors import InvalidMessage
from tickcast.model import BookSnapshot, MarketCatalog, Side, Ticker, Trade
from tickcast.sources.publish import parse_batch

MARKETS = [{"id": "acme-foo-usd-spot", "price_decimals": 2, "size_decimals": 3}]


def parse(events: list[dict[str, object]]) -> list[object]:
    return parse_batch({"markets": MARKETS, "events": events}, MarketCatalog(), now_ns=7)[1]


def test_publish_trade_is_exact_to_the_nanosecond() -> None:
    """Decimal strings become scaled integers; RFC 3339 keeps all 9 fractional digits."""
    (trade,) = parse(
        [
            {
                "type": "trade",
                "market": "acme-foo-usd-spot",
                "id": "1",
                "price": "10.5",
                "size": "0.125",
                "side": "sell",
                "time": "2026-01-01T00:00:00.123456789Z",
            }
        ]
    )
    assert trade == Trade("acme-foo-usd-spot", "1", 1050, 125, Side.SELL, 1_767_225_600_123_456_789)


def test_publish_snapshot_is_sorted_and_time_defaults_to_now() -> None:
    """Book snapshot levels are ordered best first; a missing time is the server's now."""
    (snapshot,) = parse(
        [
            {
                "type": "book_snapshot",
                "market": "acme-foo-usd-spot",
                "bids": [["1.00", "1"], ["2.00", "1"]],
                "asks": [["4.00", "1"], ["3.00", "1"]],
            }
        ]
    )
    assert isinstance(snapshot, BookSnapshot) and snapshot.time_ns == 7
    assert [p for p, _ in snapshot.bids] == [200, 100] and [p for p, _ in snapshot.asks] == [
        300,
        400,
    ]


def test_publish_ticker_takes_decimals_from_the_strings() -> None:
    """Asset-level events carry the decimals their strings were written with."""
    (ticker,) = parse([{"type": "ticker", "asset": "FOO", "price": "1.2345", "volume_24h": "10.5"}])
    assert isinstance(ticker, Ticker)
    assert (ticker.asset, ticker.price, ticker.decimals, ticker.volume_24h) == (
        "foo",
        12345,
        4,
        105,
    )


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (
            {
                "type": "trade",
                "market": "acme-foo-usd-spot",
                "id": "1",
                "price": "1.001",
                "size": "1",
                "side": "buy",
            },
            "'price'",
        ),
        (
            {
                "type": "trade",
                "market": "nope-a-b-spot",
                "id": "1",
                "price": "1",
                "size": "1",
                "side": "buy",
            },
            "unknown market",
        ),
        (
            {
                "type": "trade",
                "market": "acme-foo-usd-spot",
                "id": "1",
                "price": "1",
                "size": "1",
                "side": "up",
            },
            "'side'",
        ),
        (
            {
                "type": "trade",
                "market": "acme-foo-usd-spot",
                "id": "1",
                "price": "-1",
                "size": "1",
                "side": "buy",
            },
            "negative",
        ),
        (
            {
                "type": "trade",
                "market": "acme-foo-usd-spot",
                "id": "1",
                "price": "1",
                "size": "1",
                "side": "buy",
                "time": "yesterday",
            },
            "'time'",
        ),
        ({"type": "weather"}, "'type'"),
    ],
)
def test_publish_rejects_bad_events_naming_the_field(event: dict[str, object], needle: str) -> None:
    """Each bad event is refused with its index and the offending field."""
    with pytest.raises(InvalidMessage) as error:
        parse([event])
    assert "events[0]" in error.value.message and needle in error.value.message


def test_publish_rejects_conflicting_market_decimals() -> None:
    """Re-declaring a known market with other decimals is refused."""
    catalog = MarketCatalog()
    markets, _ = parse_batch(
        {
            "markets": MARKETS,
            "events": [{"type": "metric", "asset": "foo", "metric": "PriceUSD", "value": "1.5"}],
        },
        catalog,
        now_ns=0,
    )
    catalog.add(markets[0])
    other = [{"id": "acme-foo-usd-spot", "price_decimals": 4, "size_decimals": 3}]
    with pytest.raises(InvalidMessage):
        parse_batch(
            {
                "markets": other,
                "events": [{"type": "metric", "asset": "foo", "metric": "PriceUSD", "value": "1"}],
            },
            catalog,
            now_ns=0,
        )
