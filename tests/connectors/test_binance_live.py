"""Binance connectors against a fake venue replaying real captures, seen by a native SDK client.

Each test starts a fake venue (tests/connectors/fake_venue.py) on a random loopback port, a real
tickcast server whose only source is the connector pointed at it, and a ``tickcast.client.Client``.
What the client ends with is compared with the venue's own independent rebuild of the capture:
the book level by level, every checksum verified by the SDK, the trades id by id.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer, ServerFactory
from tests.connectors.binance_script import BinanceScript
from tests.connectors.fake_venue import FakeVenue, Faults

from tickcast.client import ChecksumMismatch, Client, Gap, LocalBook, Snapshot, Update
from tickcast.errors import ConfigError
from tickcast.sources.connectors.registry import build_connector
from tickcast.sources.connectors.runner import ConnectorSource

FIXTURES = Path(__file__).parent.parent / "fixtures"
CAPTURES = FIXTURES / "hftbacktest"
INFO = FIXTURES / "connectors"
BIG_OUTBOX = 16 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    venue: str
    capture: Path
    info: Path
    futures: bool
    symbol: str
    spec_symbol: str
    market: str


SPOT = Case(
    "binance",
    CAPTURES / "binance-spot-btcusdt-20240808-head2500.gz",
    INFO / "binance-spot-exchange-info.json",
    False,
    "BTCUSDT",
    "btc-usdt",
    "binance-btc-usdt-spot",
)
USDM = Case(
    "binance-usdm",
    CAPTURES / "binance-usdm-btcusdt-20240808-head1500.gz",
    INFO / "binance-usdm-exchange-info.json",
    True,
    "BTCUSDT",
    "BTCUSDT",
    "binance-BTCUSDT-future",
)
COINM = Case(
    "binance-coinm",
    CAPTURES / "binance-coinm-btcusd_perp-20240808-head1500.gz",
    INFO / "binance-coinm-exchange-info.json",
    True,
    "BTCUSD_PERP",
    "BTCUSD_PERP",
    "binance-BTCUSD_PERP-future",
)


@dataclass
class Seen:
    script: BinanceScript
    source: ConnectorSource
    trades: list[str]
    book_messages: list[Any]
    others: list[Any]
    book: LocalBook
    health: dict[str, Any]
    metrics: str
    venue: FakeVenue


def _decimal(book: LocalBook) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return (
        {Decimal(p): Decimal(s) for p, s in book.bids()},
        {Decimal(p): Decimal(s) for p, s in book.asks()},
    )


async def replay(
    start_server: ServerFactory,
    case: Case,
    faults: Faults | None = None,
    *,
    stale_snapshots: int = 0,
    recent_limit: int = 1000,
    options: str = "",
    symbols: str | None = None,
    speed: float | None = 20.0,
) -> Seen:
    """Replay ``case`` through the fake venue with ``faults`` at ``speed`` times the recorded
    pace (the connector keeps up, so snapshots are taken mid-stream) to a native client, until
    its book equals the venue's rebuild and the capture's last trade arrived. ``symbols``
    replaces the case's symbol in the spec."""
    script = BinanceScript(
        [case.capture],
        case.info,
        futures=case.futures,
        stale_snapshots=stale_snapshots,
        recent_limit=recent_limit,
    )
    venue = FakeVenue(script.frames, script, faults=faults, speed=speed)
    await venue.start()
    try:
        names = symbols or case.spec_symbol
        spec = f"{case.venue}:{names},ws={venue.ws_url},rest={venue.rest_url}{options}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)
        trades, book = f"trades:{case.market}", f"book:{case.market}"
        seen, local = await _client_view(server, venue, script, case)
        async with httpx.AsyncClient(base_url=server.http) as http:
            health = (await http.get("/healthz")).json()["connectors"]
            metrics = (await http.get("/metrics")).text
            admin = {"Authorization": f"Bearer {server.admin_key}"}
            [listed] = (await http.get("/api/v1/connectors", headers=admin)).json()
        assert listed == {"name": next(iter(health)), **next(iter(health.values()))}
        return Seen(
            script=script,
            source=source,
            trades=[m.data["id"] for m in seen[trades] if isinstance(m, Update)],
            book_messages=seen[book],
            others=seen[trades] + seen["other"],
            book=local,
            health=next(iter(health.values())),
            metrics=metrics,
            venue=venue,
        )
    finally:
        await venue.stop()


async def _client_view(
    server: RunningServer, venue: FakeVenue, script: BinanceScript, case: Case
) -> tuple[dict[str, list[Any]], LocalBook]:
    """A native client's messages per stream and its final book: subscribe, release the venue,
    wait (30 s at most) until the book equals the rebuild and the last trade arrived."""
    trades, book = f"trades:{case.market}", f"book:{case.market}"
    expected_trades = [str(t) for t in script.trade_ids[case.symbol]]
    seen: dict[str, list[Any]] = {trades: [], book: [], "other": []}
    async with Client(server.ws, await server.key("pro")) as client:

        async def collect() -> None:
            async for message in client.subscribe([trades, book]):
                seen.get(getattr(message, "stream", ""), seen["other"]).append(message)

        def complete() -> bool:
            ids = [m.data["id"] for m in seen[trades] if isinstance(m, Update)]
            expected_book = script.symbols[case.symbol].book()
            return ids[-1:] == expected_trades[-1:] and _decimal(client.book(book)) == expected_book

        task = asyncio.create_task(collect())
        try:
            async with asyncio.timeout(30):
                while not seen[book]:  # subscribed: the initial snapshot arrived
                    await asyncio.sleep(0.01)
                venue.release()
                await venue.done.wait()
                while not complete():
                    await asyncio.sleep(0.02)
        finally:
            task.cancel()
        return seen, client.book(book)


def assert_clean_book(seen: Seen, resets: int) -> None:
    """Checksums all verified, and ``resets`` reset snapshots after the initial one."""
    messages = seen.book_messages
    assert not [m for m in messages if isinstance(m, ChecksumMismatch)]
    assert all(m.checksum is not None for m in messages if isinstance(m, Update))
    snapshots = [m for m in messages if isinstance(m, Snapshot)]
    assert [m.reset for m in snapshots[1:]] == [True] * (len(snapshots) - 1)
    assert len(snapshots) - 1 == resets
    assert seen.book.valid


def assert_every_trade_once(seen: Seen) -> None:
    assert seen.trades == [
        str(t) for t in seen.script.trade_ids[seen.source.instruments[0].venue_symbol]
    ]
    assert not [m for m in seen.others if isinstance(m, Gap | ChecksumMismatch)]


async def test_spot_clean_replay_matches_the_capture(start_server: ServerFactory) -> None:
    """No fault: every trade once, the book equal to the rebuild, one snapshot fetched, the
    market with Binance's tick and lot, and health and metrics counting the messages."""
    seen = await replay(start_server, SPOT)
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=1)  # the empty initial book, then the synced one
    [market] = seen.source.markets()
    assert (market.id, market.price_decimals, market.size_decimals) == (SPOT.market, 2, 8)
    assert (market.tick, market.lot) == (1, 1000)  # 0.01 and 0.00001
    assert seen.health["state"] == "live" and seen.health["reconnects"] == 0
    assert seen.health["resyncs"] == 0 and seen.health["snapshots"] == 1
    assert seen.health["messages"] == len(seen.script.frames) + 1  # and the SUBSCRIBE answer
    count = len(seen.script.frames) + 1
    assert f'tickcast_connector_messages_total{{connector="binance:btc-usdt"}} {count}.0' in (
        seen.metrics
    )
    assert 'tickcast_connector_lag_seconds_count{connector="binance:btc-usdt"}' in seen.metrics


async def test_instruments_are_sharded_over_connections(start_server: ServerFactory) -> None:
    """per_connection=1 with two instruments: two venue connections, each subscribing its own
    streams; the BTC book and trades are unaffected, both connections count as live."""
    seen = await replay(start_server, SPOT, symbols="btc-usdt,eth-usdt,per_connection=1")
    assert_every_trade_once(seen)
    assert seen.venue.connections == 2 and seen.venue.subscriptions == 2
    assert (seen.health["connections"], seen.health["live"]) == (2, 2)
    assert [m.id for m in seen.source.markets()] == [SPOT.market, "binance-eth-usdt-spot"]


async def test_usdm_dropped_connection_resyncs_and_backfills(start_server: ServerFactory) -> None:
    """The venue aborts the connection mid-stream and 150 frames pass while it is gone: the
    connector reconnects, resynchronises the book (an empty reset, then a fresh snapshot) and
    backfills the lost trades from REST: every trade exactly once, no gap."""
    seen = await replay(start_server, USDM, Faults(drop_after=600, drop_lose=150))
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=3)  # initial sync, empty on disconnect, resync
    assert seen.health["reconnects"] == 1 and seen.health["trades_backfilled"] > 0
    assert seen.health["trade_gaps"] == 0


async def test_spot_skipped_depth_update_resyncs(start_server: ServerFactory) -> None:
    """A depth update the venue never sends: the U/u check catches it on the next one, the book
    is reset and resynchronised from a new snapshot, never silently wrong."""
    depth = [i for i, (_, f) in enumerate(SpotFrames.frames()) if "@depth" in f]
    seen = await replay(start_server, SPOT, Faults(skip=frozenset({depth[120]})))
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=3)  # initial sync, empty on the break, resync
    assert seen.health["resyncs"] == 1 and seen.health["reconnects"] == 0


async def test_coinm_stale_snapshot_is_refused_and_fetched_again(
    start_server: ServerFactory,
) -> None:
    """COIN-M: after a skipped depth update the venue first answers with a snapshot older than
    the buffered updates (pu chain): it is refused before publishing anything and fetched again."""
    script = BinanceScript([COINM.capture], COINM.info, futures=True)
    depth = [i for i, (_, f) in enumerate(script.frames) if "@depth" in f]
    seen = await replay(
        start_server, COINM, Faults(skip=frozenset({depth[400]})), stale_snapshots=1
    )
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=3)  # the stale snapshot never reaches the client
    assert seen.health["resyncs"] == 2 and seen.health["snapshots"] == 3


async def test_unreadable_message_restarts_the_connection(start_server: ServerFactory) -> None:
    """A depth message without its update ids (the feed cannot read it): the connection is
    restarted like a dropped one, the book resynchronised, the lost trades backfilled."""
    depth = [i for i, (_, f) in enumerate(SpotFrames.frames()) if "@depth" in f]
    broken = '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","s":"BTCUSDT"}}'
    seen = await replay(start_server, SPOT, Faults(replace={depth[100]: broken}))
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=3)
    assert seen.health["reconnects"] == 1 and "KeyError" in str(seen.health["last_error"])


async def test_silent_venue_is_detected_and_replaced(start_server: ServerFactory) -> None:
    """The venue stops sending without closing: after ``stale=1`` second of silence the
    connector reconnects by itself and the stream resumes, books resynchronised, no trade lost."""
    seen = await replay(start_server, USDM, Faults(silent_after=700), options=",stale=1")
    assert_every_trade_once(seen)
    assert_clean_book(seen, resets=3)
    assert seen.health["reconnects"] == 1
    assert "no message for" in str(seen.health["last_error"])


async def test_trades_beyond_the_rest_window_are_a_reported_gap(
    start_server: ServerFactory,
) -> None:
    """Recent trades reach back only 5 trades (and the replay runs on at full speed, so they may
    all be newer than the loss): the loss is counted as one trades gap; what arrives is still in
    order without duplicates, only trades of the lost range are missing, the book is intact."""
    seen = await replay(start_server, SPOT, Faults(drop_after=800, drop_lose=400), recent_limit=5)
    expected = [str(t) for t in seen.script.trade_ids["BTCUSDT"]]
    assert seen.trades == sorted(set(seen.trades), key=int)
    assert set(seen.trades) < set(expected)
    assert seen.health["trade_gaps"] == 1 and seen.health["trades_backfilled"] <= 5
    missing = [int(t) for t in expected if t not in set(seen.trades)]
    assert missing == list(range(missing[0], missing[-1] + 1))  # one contiguous loss
    [gap] = [m for m in seen.others if isinstance(m, Gap)]  # and the client is told: one seq
    assert (gap.reason, gap.from_seq, gap.to_seq) == ("venue", gap.from_seq, gap.from_seq)
    assert_clean_book(seen, resets=3)


class SpotFrames:
    _frames: list[tuple[int, str]] | None = None

    @classmethod
    def frames(cls) -> list[tuple[int, str]]:
        if cls._frames is None:
            cls._frames = BinanceScript([SPOT.capture], SPOT.info, futures=False).frames
        return cls._frames


async def test_unreachable_instrument_list_is_a_configuration_error() -> None:
    """prepare() against a closed loopback port: a ConfigError naming the URL, not a traceback."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    source = build_connector(f"binance:btc-usdt,rest=http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"127.0.0.1:{port}/api/v3/exchangeInfo"):
        await source.prepare()


def test_serve_exits_2_when_the_venue_cannot_list_instruments(tmp_path: Path) -> None:
    """`tickcast serve --source binance:...,rest=<closed port>` exits 2 naming the URL, before
    listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = subprocess.run(
        [sys.executable, "-m", "tickcast.cli.main", "serve", "--port", "0", "--data-dir",
         str(tmp_path), "--source", f"binance:btc-usdt,rest=http://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot read the instrument list http://127.0.0.1:{port}/api/v3/exchangeInfo" in (
        result.stderr
    )
    assert "listening" not in result.stdout
