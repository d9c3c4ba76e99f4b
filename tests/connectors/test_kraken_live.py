"""The shared runner driving the Kraken v2 feed against a fake venue replaying real book frames.

A native SDK client takes the book; its top-10 CRC32 (tickcast's checksum, the same algorithm as
Kraken's) must end equal to the last checksum Kraken itself sent, with every Update verified. The
fault tests compare the client's whole book with the venue's independent rebuild
(tests/connectors/kraken_script.py) and count the reset snapshots; a disconnect, which may have
lost trades, is backfilled from REST ``Trades`` (beyond its window: a typed ``Gap``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import ServerFactory
from tests.connectors.client_view import View, decimal_book, watch
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.kraken_script import KrakenScript
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import Client
from tickcast.sources.connectors.runner import ConnectorSource

MARKET = "kraken-btc-chf-spot"
BOOK, TRADES = f"book:{MARKET}", f"trades:{MARKET}"


@dataclass
class Run:
    script: KrakenScript
    source: ConnectorSource
    view: View
    health: dict[str, Any]


async def replay(
    start_server: ServerFactory,
    faults: Faults | None = None,
    options: str = "",
    script: KrakenScript | None = None,
) -> Run:
    script = script or KrakenScript({"BTC/CHF"})
    venue = FakeVenue(script.frames, script, faults=faults, speed=20)
    await venue.start()
    try:
        spec = f"kraken:XBT/CHF,ws={venue.ws_url},rest={venue.rest_url}{options}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)
        assert [m.id for m in source.markets()] == [MARKET]

        def done(client: Client, view: View) -> bool:
            book = client.book(BOOK)
            last = script.trade_ids.get("BTC/CHF", [])[-1:]
            if view.trade_ids(TRADES)[-1:] != last:
                return False
            return book.checksum() == script.checksums["BTC/CHF"] and decimal_book(
                book
            ) == script.book("BTC/CHF")

        view = await watch(server, venue, [BOOK, TRADES], done)
        health = source.health.report()  # before the venue goes away
    finally:
        await venue.stop()
    return Run(script, source, view, health)


async def test_kraken_book_ends_on_krakens_own_checksum(start_server: ServerFactory) -> None:
    run = await replay(start_server)
    run.view.assert_clean_book(BOOK, resets=1)  # the empty initial book, then Kraken's snapshot
    assert len([m for m in run.view.seen[BOOK] if hasattr(m, "checksum")]) > 100
    assert (run.health["resyncs"], run.health["reconnects"]) == (0, 0)
    assert run.health["messages"] == 290 + 3  # 290 book frames and three subscription answers
    assert run.view.gaps(TRADES) == []


async def test_kraken_corrupted_checksum_resyncs(start_server: ServerFactory) -> None:
    """A book update whose checksum is wrong: reset, resubscribe, Kraken's fresh snapshot."""
    script = KrakenScript({"BTC/CHF"})
    index, frame = 100, json.loads(script.frames[100][1])
    frame["data"][0]["checksum"] ^= 1
    run = await replay(start_server, Faults(replace={index: json.dumps(frame)}))
    run.view.assert_clean_book(BOOK, resets=3)  # snapshot, the mismatch, the fresh snapshot
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)
    assert run.view.gaps(TRADES) == []  # a book break loses no trade


async def test_kraken_dropped_connection(start_server: ServerFactory) -> None:
    """The venue aborts the connection and 20 messages pass (trades among them): reconnect,
    reset, fresh snapshot; the trades of the outage come from REST ``Trades``: every trade
    exactly once, in order, no Gap."""
    script = KrakenScript({"BTC/CHF"}, trades_every=5)
    run = await replay(start_server, Faults(drop_after=150, drop_lose=20), script=script)
    run.view.assert_clean_book(BOOK, resets=3)
    assert run.view.trade_ids(TRADES) == script.trade_ids["BTC/CHF"]
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 0)
    assert run.health["trades_backfilled"] >= 3
    assert run.view.gaps(TRADES) == []


async def test_kraken_loss_beyond_the_rest_window_is_one_gap(start_server: ServerFactory) -> None:
    """REST answers only the last trade: the older lost ones are one typed Gap, then the
    recovered trade and the live ones, none twice."""
    script = KrakenScript({"BTC/CHF"}, trades_every=5)
    script.recent_limit = 1
    run = await replay(start_server, Faults(drop_after=150, drop_lose=20), script=script)
    ids, expected = run.view.trade_ids(TRADES), script.trade_ids["BTC/CHF"]
    assert ids == [t for t in expected if t in set(ids)] and len(ids) < len(expected)
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 1)
    [gap] = run.view.gaps(TRADES)
    assert gap.reason == "venue" and gap.from_seq == gap.to_seq and run.view.dense(TRADES)


async def test_kraken_reconnect_without_trades_is_no_gap(start_server: ServerFactory) -> None:
    """The connection drops where no trade happens (the next trade id follows the last one):
    no loss, no backfill, no Gap."""
    script = KrakenScript({"BTC/CHF"}, trades_every=5)
    index = next(i for i, (_, f) in enumerate(script.frames) if i > 150 and '"trade"' in f)
    run = await replay(start_server, Faults(drop_after=index, drop_lose=3), script=script)
    assert run.view.trade_ids(TRADES) == script.trade_ids["BTC/CHF"]
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 0)
    assert run.health["trades_backfilled"] == 0 and run.view.gaps(TRADES) == []


async def test_kraken_silent_venue(start_server: ServerFactory) -> None:
    """The venue stops sending without closing: after ``stale=1`` s the connector reconnects."""
    run = await replay(start_server, Faults(silent_after=200), ",stale=1")
    run.view.assert_clean_book(BOOK, resets=3)
    assert run.health["reconnects"] == 1
    assert "Kraken" in str(run.health["last_error"])


async def test_kraken_skipped_update_is_caught_by_the_checksum(start_server: ServerFactory) -> None:
    """Kraken has no sequence numbers: an update never sent that changed the top 10 (Kraken's
    own checksum moved) makes the next message's checksum disagree: reset and resubscribe."""
    script = KrakenScript({"BTC/CHF"})
    sums = [json.loads(frame)["data"][0]["checksum"] for _, frame in script.frames]
    index = next(i for i in range(120, len(sums) - 1) if sums[i] not in (sums[i - 1], sums[i + 1]))
    run = await replay(start_server, Faults(skip=frozenset({index})))
    run.view.assert_clean_book(BOOK, resets=3)
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)
