"""The shared runner driving the Bybit v5 linear feed against a fake venue, seen by a native client.

Frames are generated from Bybit's documentation (tests/connectors/bybit_script.py; Bybit's only
capture at hand is the retired v1 API). Each test compares the client's book with the venue's
independent Decimal rebuild, checks every Update's checksum (the SDK verifies it), counts the
reset snapshots, and checks the trades: each at most once, in order, a reconnect checked against
REST ``recent-trade`` (Bybit trade ids are not dense) and what it cannot cover a trades gap.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import RunningServer, ServerFactory
from tests.connectors.bybit_script import BOOK_TOPIC, BybitScript, stale_snapshot
from tests.connectors.client_view import View, decimal_book, watch
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import Client, Update
from tickcast.model import StreamPosition
from tickcast.sources.connectors.registry import VENUES, build_connector
from tickcast.sources.connectors.runner import ConnectorSource

MARKET = "bybit-BTCUSDT-future"
BOOK, TRADES = f"book:{MARKET}", f"trades:{MARKET}"


@dataclass
class Run:
    script: BybitScript
    source: ConnectorSource
    view: View
    health: dict[str, Any]
    server: RunningServer

    @property
    def trades(self) -> list[str]:
        return self.view.trade_ids(TRADES)


async def replay(
    start_server: ServerFactory,
    faults: Faults | None = None,
    symbols: str = "BTCUSDT",
    script: BybitScript | None = None,
) -> Run:
    script = script or BybitScript()
    venue = FakeVenue(script.frames, script, faults=faults, speed=20)
    await venue.start()
    try:
        spec = f"bybit:{symbols},ws={venue.ws_url},rest={venue.rest_url}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)

        def done(client: Client, view: View) -> bool:
            last = view.trade_ids(TRADES)[-1:] == script.trade_ids[-1:]
            return last and decimal_book(client.book(BOOK)) == script.book()

        view = await watch(server, venue, [BOOK, TRADES], done)
        health = source.health.report()
    finally:
        await venue.stop()
    return Run(script, source, view, health, server)


def book_index(script: BybitScript, n: int) -> int:
    """The index in the replayed frames of the ``n``-th book message."""
    books = [i for i, (_, f) in enumerate(script.frames) if json.loads(f)["topic"] == BOOK_TOPIC]
    return books[n]


def assert_trades_in_order_once(run: Run) -> None:
    order = {trade_id: i for i, trade_id in enumerate(run.script.trade_ids)}
    positions = [order[t] for t in run.trades]
    assert positions == sorted(set(positions))


async def test_bybit_all_pages_and_a_clean_replay(start_server: ServerFactory) -> None:
    """``bybit:all`` reads both pages of the linear instrument list; the book follows the
    generated stream (its first snapshot and Bybit's u=1 restart snapshot are the two resets),
    every trade arrives once, nothing is resynchronised."""
    run = await replay(start_server, symbols="all")
    markets = run.source.markets()
    assert [m.id for m in markets] == [MARKET, "bybit-XRPUSDT-future"]
    assert (markets[0].price_decimals, markets[0].size_decimals) == (1, 3)
    assert run.trades == run.script.trade_ids
    run.view.assert_clean_book(BOOK, resets=2)
    assert (run.health["resyncs"], run.health["reconnects"], run.health["trade_gaps"]) == (0, 0, 0)
    assert run.view.gaps(TRADES) == []


async def test_bybit_dropped_connection(start_server: ServerFactory) -> None:
    """The venue aborts the connection and 20 frames pass (trades among them): reconnect, an
    empty reset, the snapshot Bybit answers the new subscription with; the trades sent while
    away come from REST ``recent-trade``, placed by their order there: every trade exactly
    once, in order, no Gap."""
    script = BybitScript()
    run = await replay(start_server, Faults(drop_after=book_index(script, 80), drop_lose=20))
    assert run.trades == run.script.trade_ids
    run.view.assert_clean_book(BOOK, resets=4)  # frame 0, disconnect, resubscribe, u=1 restart
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 0)
    assert run.health["trades_backfilled"] >= 3 and run.view.gaps(TRADES) == []


async def test_bybit_loss_beyond_the_rest_window_is_one_gap(start_server: ServerFactory) -> None:
    """REST answers only the last trade: the trade published last before the drop is not in it,
    so continuity cannot be proven: one typed Gap (one seq), in its place; a client resuming
    from just before it gets the same Gap replayed, then the trades after."""
    script = BybitScript()
    script.recent_limit = 1
    faults = Faults(drop_after=book_index(script, 80), drop_lose=20)
    run = await replay(start_server, faults, script=script)
    assert_trades_in_order_once(run)
    assert 0 < len(run.script.trade_ids) - len(run.trades) <= 4
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 1)
    [gap] = run.view.gaps(TRADES)
    assert (gap.reason, gap.to_seq - gap.from_seq) == ("venue", 0)
    assert run.view.dense(TRADES)  # the gap took one seq, in its place
    position = {TRADES: StreamPosition(gap.from_seq - 1, gap.epoch)}
    async with Client(run.server.ws, await run.server.key("pro")) as client:
        replayed: list[object] = []
        async with asyncio.timeout(10):
            async for message in client.subscribe([TRADES], resume=position):
                replayed.append(message)
                if len(replayed) == 2:
                    break
    assert replayed[0] == gap and isinstance(replayed[1], Update)
    assert replayed[1].seq == gap.to_seq + 1


async def test_bybit_reconnect_without_trades_is_no_gap(start_server: ServerFactory) -> None:
    """A drop during which no trade happens: the first trade after it still asks REST (Bybit's
    ids cannot tell), which shows it right after the last one published: no Gap."""
    script = BybitScript()
    index = next(i for i in range(book_index(script, 80), len(script.frames)) if
                 json.loads(script.frames[i][1])["topic"] != BOOK_TOPIC)  # fmt: skip
    run = await replay(start_server, Faults(drop_after=index, drop_lose=3))
    assert run.trades == run.script.trade_ids
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 0)
    assert run.health["trades_backfilled"] == 0 and run.view.gaps(TRADES) == []


async def test_bybit_skipped_update_resyncs(start_server: ServerFactory) -> None:
    """A delta never sent: the next one's ``u`` jumps, the book is reset and resubscribed."""
    script = BybitScript()
    run = await replay(start_server, Faults(skip=frozenset({book_index(script, 60)})))
    assert run.trades == run.script.trade_ids
    run.view.assert_clean_book(BOOK, resets=4)  # frame 0, the break, resubscribe, restart
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)


async def test_bybit_stale_snapshot_resyncs(start_server: ServerFactory) -> None:
    """A snapshot older (``seq``) than the book: refused, the book reset and resubscribed."""
    script = BybitScript()
    faults = Faults(replace={book_index(script, 200): stale_snapshot(seq=1)})
    run = await replay(start_server, faults)
    assert run.trades == run.script.trade_ids
    run.view.assert_clean_book(BOOK, resets=4)  # frame 0, restart, the stale one, resubscribe
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)


async def test_bybit_silent_venue_reconnects(start_server: ServerFactory) -> None:
    """The venue stops sending without closing: after ``stale=1`` s the connector reconnects
    and resubscribes; the book resumes from Bybit's snapshot."""
    script = BybitScript()
    run = await replay(
        start_server, Faults(silent_after=book_index(script, 100)), "BTCUSDT,stale=1"
    )
    assert run.trades == run.script.trade_ids  # nothing happened while it was silent
    assert run.view.gaps(TRADES) == []  # REST recent-trade proves nothing was lost
    run.view.assert_clean_book(BOOK, resets=4)
    assert run.health["reconnects"] == 1 and "no message from Bybit" in str(
        run.health["last_error"]
    )


async def test_bybit_categories_have_their_own_endpoint_and_list() -> None:
    """``bybit:`` is linear, ``bybit-spot:`` spot, ``bybit-inverse:`` inverse: one production
    endpoint each; ``bybit-spot:btc-usdt`` takes the spot list (its spelling normalised)."""
    assert {name: VENUES[name].ws_url for name in ("bybit", "bybit-spot", "bybit-inverse")} == {
        "bybit": "wss://stream.bybit.com/v5/public/linear",
        "bybit-spot": "wss://stream.bybit.com/v5/public/spot",
        "bybit-inverse": "wss://stream.bybit.com/v5/public/inverse",
    }
    script = BybitScript()
    venue = FakeVenue(script.frames, script)
    await venue.start()
    try:
        source = build_connector(f"bybit-spot:btc-usdt,rest={venue.rest_url}")
        await source.prepare()
    finally:
        await venue.stop()
    [market] = source.markets()
    assert (market.id, market.symbol) == ("bybit-btc-usdt-spot", "BTCUSDT")
    assert source.ws_url == "wss://stream.bybit.com/v5/public/spot"
