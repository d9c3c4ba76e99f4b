"""The shared runner driving the OKX v5 feed against a fake venue replaying a real connection.

Three instrument lists (spot, swaps, futures) make the markets; the feed checks OKX's own book
checksum (and, on the sequenced replay, ``prevSeqId``) on every message; a native client checks
tickcast's. The fault tests compare each client book with the venue's independent rebuild
(tests/connectors/okx_script.py), count the reset snapshots, and check the BTC-USDT trades: each
once, in order, a disconnect backfilled from REST ``market/trades`` (beyond it: a typed ``Gap``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import ServerFactory
from tests.connectors.client_view import View, decimal_book, watch
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.okx_script import OkxScript
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import Client
from tickcast.sources.connectors.runner import ConnectorSource

INSTRUMENTS = {
    "BTC-USDT": "okx-btc-usdt-spot",
    "UNI-USD-SWAP": "okx-UNI-USD-SWAP-future",
    "BTC-USD-220527": "okx-BTC-USD-220527-future",
}
BOOKS = {inst: f"book:{market}" for inst, market in INSTRUMENTS.items()}
TRADES = "trades:okx-btc-usdt-spot"
SPOT_BOOK = BOOKS["BTC-USDT"]


@dataclass
class Run:
    script: OkxScript
    source: ConnectorSource
    view: View
    health: dict[str, Any]

    def trades(self) -> list[str]:
        return self.view.trade_ids(TRADES)


async def replay(
    start_server: ServerFactory,
    faults: Faults | None = None,
    options: str = "",
    script: OkxScript | None = None,
) -> Run:
    script = script or OkxScript()
    venue = FakeVenue(script.frames, script, faults=faults, speed=20)
    await venue.start()
    try:
        symbols = "btc-usdt,UNI-USD-SWAP,BTC-USD-220527"
        spec = f"okx:{symbols},ws={venue.ws_url},rest={venue.rest_url}{options}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)
        assert [m.id for m in source.markets()] == list(INSTRUMENTS.values())

        def done(client: Client, view: View) -> bool:
            last = view.trade_ids(TRADES)[-1:] == script.trade_ids["BTC-USDT"][-1:]
            books = all(decimal_book(client.book(BOOKS[i])) == script.book(i) for i in BOOKS)
            return last and books

        view = await watch(server, venue, [*BOOKS.values(), TRADES], done)
        health = source.health.report()  # before the venue goes away
    finally:
        await venue.stop()
    return Run(script, source, view, health)


def spot_update(script: OkxScript, n: int) -> int:
    """The index of the ``n``-th BTC-USDT book update."""
    messages = [json.loads(frame) for _, frame in script.frames]
    return [
        i
        for i, m in enumerate(messages)
        if m["arg"] == {"channel": "books", "instId": "BTC-USDT"} and m["action"] == "update"
    ][n]


async def test_okx_books_stream_with_every_checksum_holding(start_server: ServerFactory) -> None:
    run = await replay(start_server)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=1)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]
    expected = len(run.script.frames) + 9  # and one answer per (instrument, channel)
    assert (run.health["resyncs"], run.health["reconnects"]) == (0, 0)
    assert run.health["messages"] == expected
    assert run.view.gaps(TRADES) == []


async def test_okx_corrupted_checksum_resyncs_that_book(start_server: ServerFactory) -> None:
    script = OkxScript()
    index = spot_update(script, 40)
    frame = json.loads(script.frames[index][1])
    frame["data"][0]["checksum"] += 1
    run = await replay(start_server, Faults(replace={index: json.dumps(frame)}), script=script)
    run.view.assert_clean_book(SPOT_BOOK, resets=3)  # snapshot, the mismatch, the fresh one
    for stream in (BOOKS["UNI-USD-SWAP"], BOOKS["BTC-USD-220527"]):
        run.view.assert_clean_book(stream, resets=1)
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]


async def test_okx_skipped_sequence_resyncs(start_server: ServerFactory) -> None:
    """With OKX's seqId/prevSeqId: an update never sent breaks the chain on the next one."""
    script = OkxScript(sequenced=True)
    run = await replay(
        start_server, Faults(skip=frozenset({spot_update(script, 60)})), script=script
    )
    run.view.assert_clean_book(SPOT_BOOK, resets=3)
    assert (run.health["resyncs"], run.health["reconnects"]) == (1, 0)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]


async def test_okx_dropped_connection(start_server: ServerFactory) -> None:
    """Reconnect, every book reset and resnapshotted; the BTC-USDT trades of the outage come
    from REST ``market/trades``: every trade exactly once, in order, no Gap."""
    script = OkxScript()
    faults = Faults(drop_after=spot_update(script, 80), drop_lose=30)
    run = await replay(start_server, faults, script=script)
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]
    assert run.health["reconnects"] == 1 and run.health["trade_gaps"] == 0
    assert run.health["trades_backfilled"] > 0 and run.view.gaps(TRADES) == []


async def test_okx_loss_beyond_the_rest_window_is_one_gap(start_server: ServerFactory) -> None:
    """REST answers only the last trade: the older lost ones are one typed Gap (one seq) before
    the recovered and live trades, none twice."""
    script = OkxScript()
    script.recent_limit = 1
    faults = Faults(drop_after=spot_update(script, 80), drop_lose=30)
    run = await replay(start_server, faults, script=script)
    expected = run.script.trade_ids["BTC-USDT"]
    assert run.trades() == [t for t in expected if t in set(run.trades())]
    assert len(run.trades()) < len(expected)
    [gap] = run.view.gaps(TRADES)
    assert gap.reason == "venue" and gap.from_seq == gap.to_seq and run.view.dense(TRADES)
    assert run.health["reconnects"] == 1 and run.health["trade_gaps"] == 1


async def test_okx_reconnect_without_trades_is_no_gap(start_server: ServerFactory) -> None:
    """A drop during which no BTC-USDT trade happens: the next trade id follows the last one,
    so no loss is reported, nothing is fetched, no Gap (other instruments have no trades)."""
    script = OkxScript()
    index = _quiet_drop(script)
    run = await replay(start_server, Faults(drop_after=index, drop_lose=2), script=script)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]
    assert (run.health["reconnects"], run.health["trade_gaps"]) == (1, 0)
    assert run.health["trades_backfilled"] == 0 and run.view.gaps(TRADES) == []


def _quiet_drop(script: OkxScript) -> int:
    """A frame after which the next two frames are not trades, with trades after them."""
    channels = [json.loads(frame)["arg"]["channel"] for _, frame in script.frames]
    trades = [i for i, channel in enumerate(channels) if channel == "trades"]
    return next(
        i
        for i in range(len(channels) // 3, len(channels))
        if "trades" not in channels[i + 1 : i + 3] and any(t > i + 2 for t in trades)
    )


async def test_okx_silent_venue(start_server: ServerFactory) -> None:
    script = OkxScript()
    run = await replay(
        start_server, Faults(silent_after=spot_update(script, 90)), ",stale=1", script=script
    )
    for stream in BOOKS.values():
        run.view.assert_clean_book(stream, resets=3)
    assert run.trades() == run.script.trade_ids["BTC-USDT"]
    assert run.health["reconnects"] == 1
