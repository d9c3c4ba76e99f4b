"""The shared runner driving the Coinbase Advanced Trade feed against a fake venue replaying real
(re-framed) messages, seen by a native SDK client.

Each test compares the client's books with the venue's independent Decimal rebuild, checks every
Update's checksum (the SDK verifies it) and the number of reset snapshots, and the trades: every
one exactly once, in venue order. Coinbase has no book checksum: ``sequence_num`` continuity over
the connection is what the feed verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.conftest import ServerFactory
from tests.connectors.client_view import View, decimal_book, watch
from tests.connectors.coinbase_script import CoinbaseScript
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import Client
from tickcast.sources.connectors.runner import ConnectorSource

PRODUCTS = {"SKL-USD": "coinbase-skl-usd-spot", "BAND-GBP": "coinbase-band-gbp-spot"}
BOOKS = {product: f"book:{market}" for product, market in PRODUCTS.items()}
TRADES = {product: f"trades:{market}" for product, market in PRODUCTS.items()}


@dataclass
class Run:
    script: CoinbaseScript
    source: ConnectorSource
    view: View
    health: dict[str, Any]


async def replay(
    start_server: ServerFactory,
    faults: Faults | None = None,
    options: str = "",
    script: CoinbaseScript | None = None,
) -> Run:
    script = script or CoinbaseScript()
    venue = FakeVenue(script.frames, script, faults=faults, speed=40, rewrite=script.rewrite)
    await venue.start()
    try:
        spec = f"coinbase:SKL-USD,band/gbp,ws={venue.ws_url},rest={venue.rest_url}{options}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)

        def done(client: Client, view: View) -> bool:
            return all(
                view.trade_ids(TRADES[p])[-1:] == script.trade_ids[p][-1:]
                and decimal_book(client.book(BOOKS[p])) == script.book(p)
                for p in PRODUCTS
            )

        view = await watch(server, venue, [*BOOKS.values(), *TRADES.values()], done)
        health = source.health.report()
    finally:
        await venue.stop()
    return Run(script, source, view, health)


def assert_every_trade_once(run: Run) -> None:
    """Every trade once, in order, and no gap announced (nothing was lost for good)."""
    for product in PRODUCTS:
        assert run.view.trade_ids(TRADES[product]) == run.script.trade_ids[product]
        assert run.view.gaps(TRADES[product]) == []
    assert run.health["trade_gaps"] == 0


def book_frame(script: CoinbaseScript, n: int) -> int:
    """The index of the ``n``-th l2_data update frame."""
    return [i for i, (_, f) in enumerate(script.frames) if '"type":"update","product_id"' in f][n]


async def test_coinbase_clean_replay(start_server: ServerFactory) -> None:
    """Both books equal the venue's rebuild, every sequence number checked, no resync; every
    trade of the capture once (the subscription's trade snapshot is history, not republished)."""
    run = await replay(start_server)
    markets = run.source.markets()
    assert [m.id for m in markets] == list(PRODUCTS.values())
    assert_every_trade_once(run)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=1)  # the empty initial book, then the snapshot
    assert (run.health["resyncs"], run.health["reconnects"]) == (0, 0)


async def test_coinbase_skipped_sequence_resyncs_every_book(start_server: ServerFactory) -> None:
    """A message never sent: the next ``sequence_num`` jumps; every book is reset and level2
    resubscribed, Coinbase answers with fresh snapshots; trades are untouched."""
    script = CoinbaseScript()
    run = await replay(start_server, Faults(skip=frozenset({book_frame(script, 1000)})))
    assert_every_trade_once(run)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)  # snapshot, the break, the fresh snapshot
    assert (run.health["resyncs"], run.health["reconnects"]) == (2, 0)


async def test_coinbase_dropped_connection(start_server: ServerFactory) -> None:
    """The venue aborts the connection and 300 messages pass: reconnect, reset books, fresh
    snapshots; the trades missed are recovered from the ``market_trades`` snapshot Coinbase sends
    on subscription: every trade exactly once."""
    script = CoinbaseScript()
    run = await replay(start_server, Faults(drop_after=book_frame(script, 1200), drop_lose=300))
    assert_every_trade_once(run)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)
    assert run.health["reconnects"] == 1


async def test_coinbase_silent_venue(start_server: ServerFactory) -> None:
    """The venue stops sending without closing: after ``stale=1`` s the connector reconnects."""
    script = CoinbaseScript()
    run = await replay(start_server, Faults(silent_after=book_frame(script, 1500)), ",stale=1")
    assert_every_trade_once(run)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)
    assert run.health["reconnects"] == 1
    assert "no message from Coinbase" in str(run.health["last_error"])


async def test_coinbase_trades_beyond_the_snapshot_are_a_gap(start_server: ServerFactory) -> None:
    """The ``market_trades`` snapshot holds only the last trade: the trades of the outage before
    it are lost for good; the ids jump and the native client gets a typed ``Gap`` (reason
    ``venue``) in their place, one seq; every other trade once, in order."""
    script = CoinbaseScript(recent=1)
    faults = Faults(drop_after=book_frame(script, 1200), drop_lose=300)
    run = await replay(start_server, faults, script=script)
    lost = 0
    for product in PRODUCTS:
        stream, expected = TRADES[product], run.script.trade_ids[product]
        got = run.view.trade_ids(stream)
        assert got == [t for t in expected if t in set(got)]  # in order, no duplicate
        assert run.view.dense(stream)
        if len(got) < len(expected):
            [gap] = run.view.gaps(stream)
            assert gap.reason == "venue" and gap.from_seq == gap.to_seq
            lost += 1
    assert lost >= 1 and run.health["trade_gaps"] == lost
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)
