"""Client end to end against the scripted fake server of conftest.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tickcast.book import checksum_of_strings
from tickcast.client import (
    ChecksumMismatch,
    Client,
    Disconnected,
    Gap,
    Message,
    Reconnected,
    Reset,
    Snapshot,
    Subscription,
    Update,
    ws_url,
)
from tickcast.dialects.native.wire import protocol as native
from tickcast.errors import InvalidApiKey, LimitExceeded, NotEntitled, UnknownStream
from tickcast.model import StreamPosition

EPOCH = "e1"
TRADES = "trades:binance-btc-usdt-spot"
BOOK = "book:binance-btc-usdt-spot"
TRADE = {"id": "1", "price": "100.00", "size": "1.000", "side": "buy", "time": "t"}
BIDS = [["100.50", "1.000"], ["100.00", "2.000"]]
ASKS = [["101.00", "0.500"]]


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    return checksum_of_strings([(p, s) for p, s in bids], [(p, s) for p, s in asks])


async def take(subscription: Subscription, count: int) -> list[Message]:
    """The next ``count`` messages (failing fast instead of hanging)."""
    async with asyncio.timeout(5):
        return [await anext(subscription) for _ in range(count)]


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages if isinstance(m, Update)]


def client(server: Any, **options: Any) -> Client:
    return Client(server.url, server.key, min_backoff=0.01, max_backoff=0.05, **options)


def test_ws_url_appends_native_path() -> None:
    """A bare host gets /api/v1/ws; an explicit path is kept; http maps to ws."""
    assert ws_url("ws://127.0.0.1:8080") == "ws://127.0.0.1:8080/api/v1/ws"
    assert ws_url("http://h:1/") == "ws://h:1/api/v1/ws"
    assert ws_url("wss://h/custom/ws?x=1") == "wss://h/custom/ws?x=1"


async def test_client_subscribe_yields_snapshot_then_updates(server: Any) -> None:
    """Subscribe → Subscribed/Snapshot/Updates; the local book and positions follow."""

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        assert request["streams"] == [TRADES, BOOK] and "from" not in request
        await conn.subscribed(request, {TRADES: 5, BOOK: 10})
        await conn.snapshot(BOOK, 10, BIDS, ASKS)
        await conn.update(TRADES, 6, TRADE)
        bids = [["100.25", "3.000"], ["100.00", "2.000"]]
        delta = {"bids": [["100.50", "0"], ["100.25", "3.000"]], "asks": []}
        await conn.update(BOOK, 11, delta, checksum=checksum(bids, ASKS))

    server.scripts.append(script)
    async with client(server) as c:
        snapshot, trade, book = await take(c.subscribe([TRADES, BOOK]), 3)
        assert isinstance(snapshot, Snapshot) and not snapshot.reset and snapshot.seq == 10
        assert trade == Update(TRADES, 6, TRADE)
        assert isinstance(book, Update) and book.seq == 11
        assert c.book(BOOK).bids() == [("100.25", "3.000"), ("100.00", "2.000")]
        assert c.book(BOOK).best_ask() == ("101.00", "0.500")
        assert c.positions == {TRADES: StreamPosition(6, EPOCH), BOOK: StreamPosition(11, EPOCH)}
        assert c.stats.mismatches == 0 and c.stats.updates == 2
    assert server.headers[0]["X-API-Key"] == server.key


async def test_client_drops_duplicate_updates(server: Any) -> None:
    """Updates at or below the last seen seq are never yielded."""

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        for seq in (6, 7, 7, 6, 5, 8):
            await conn.update(TRADES, seq, TRADE)

    server.scripts.append(script)
    async with client(server) as c:
        assert seqs(await take(c.subscribe([TRADES]), 3)) == [6, 7, 8]
        assert c.stats.duplicates == 3


async def test_client_reconnects_and_resumes_from_last_positions(server: Any) -> None:
    """After a TCP drop: Reconnected, a Subscribe with the right `from`, then replay/reset."""
    drop = asyncio.Event()

    async def first(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5, BOOK: 10})
        await conn.snapshot(BOOK, 10, BIDS, ASKS)
        await conn.update(TRADES, 6, TRADE)
        await conn.update(TRADES, 7, TRADE)
        await drop.wait()
        conn.drop()

    async def second(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 9, BOOK: 15})
        await conn.snapshot(BOOK, 15, BIDS[:1], ASKS, reset=True)
        await conn.update(TRADES, 7, TRADE)
        await conn.update(TRADES, 8, TRADE)

    server.scripts += [first, second]
    async with client(server) as c:
        subscription = c.subscribe([TRADES, BOOK])
        assert seqs(await take(subscription, 3)) == [6, 7]
        drop.set()
        reconnected, reset, snapshot, update = await take(subscription, 4)
        assert c.stats.reconnects == 1 and c.stats.resets == 1
    assert reconnected == Reconnected(1)
    assert reset == Reset(BOOK, "reset snapshot")
    assert isinstance(snapshot, Snapshot) and snapshot.reset and snapshot.seq == 15
    assert update == Update(TRADES, 8, TRADE)
    resume = server.subscribes()[1]
    assert sorted(resume["streams"]) == sorted([TRADES, BOOK])
    assert resume["from"] == {
        TRADES: {"epoch": EPOCH, "seq": 7},
        BOOK: {"epoch": EPOCH, "seq": 10},
    }
    assert len(server.headers) == 2


async def test_client_checksum_mismatch_resubscribes_without_from(server: Any) -> None:
    """A bad checksum: ChecksumMismatch, a fresh Subscribe (no `from`), Reset, new Snapshot."""
    bad = {"bids": [["100.50", "9.000"]], "asks": []}
    fresh_bids = [["100.75", "1.000"]]

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {BOOK: 10})
        await conn.snapshot(BOOK, 10, BIDS, ASKS)
        await conn.update(BOOK, 11, bad, checksum=12345)
        await conn.update(BOOK, 12, {"bids": [], "asks": []}, checksum=1)  # in flight: ignored
        again = await conn.expect("Subscribe")
        assert again["streams"] == [BOOK] and "from" not in again
        await conn.subscribed(again, {BOOK: 12})
        await conn.snapshot(BOOK, 12, fresh_bids, ASKS)
        await conn.update(BOOK, 13, {"bids": [], "asks": []}, checksum=checksum(fresh_bids, ASKS))

    server.scripts.append(script)
    async with client(server) as c:
        messages = await take(c.subscribe([BOOK]), 5)
        assert c.book(BOOK).valid and c.book(BOOK).bids() == [("100.75", "1.000")]
        assert c.stats.mismatches == 1 and c.stats.resets == 1
    actual = checksum([["100.50", "9.000"], ["100.00", "2.000"]], ASKS)
    assert [type(m) for m in messages] == [Snapshot, ChecksumMismatch, Reset, Snapshot, Update]
    assert messages[1] == ChecksumMismatch(BOOK, 11, 12345, actual)
    assert messages[2] == Reset(BOOK, "checksum mismatch")
    assert isinstance(messages[3], Snapshot) and messages[3].seq == 12


async def test_client_surfaces_server_gap_after_resume(server: Any) -> None:
    """A Gap notice on resume is yielded and the stream continues in the new epoch."""
    drop = asyncio.Event()

    async def first(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        await conn.update(TRADES, 6, TRADE)
        await drop.wait()
        conn.drop()

    async def second(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        assert request["from"] == {TRADES: {"epoch": EPOCH, "seq": 6}}
        await conn.subscribed(request, {TRADES: 41})
        await conn.send(native.gap_frame(TRADES, "e2", 1, 40, "epoch"))
        await conn.update(TRADES, 41, TRADE)

    server.scripts += [first, second]
    async with client(server) as c:
        subscription = c.subscribe([TRADES])
        await take(subscription, 1)
        drop.set()
        messages = await take(subscription, 3)
        assert c.positions[TRADES] == StreamPosition(41, "e2")
    assert messages == [
        Reconnected(1),
        Gap(TRADES, "e2", 1, 40, "epoch"),
        Update(TRADES, 41, TRADE),
    ]


async def test_client_detects_hole_and_resubscribes(server: Any) -> None:
    """A skipped seq without a Gap is surfaced as Gap(client-detected) and resubscribed."""

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        await conn.update(TRADES, 6, TRADE)
        await conn.update(TRADES, 9, TRADE)
        again = await conn.expect("Subscribe")
        assert again["from"] == {TRADES: {"epoch": EPOCH, "seq": 9}}
        await conn.subscribed(again, {TRADES: 9})
        await conn.update(TRADES, 10, TRADE)

    server.scripts.append(script)
    async with client(server) as c:
        messages = await take(c.subscribe([TRADES]), 4)
        assert c.stats.gaps == 1
    assert messages[1] == Gap(TRADES, EPOCH, 7, 8, "client-detected")
    assert seqs(messages) == [6, 9, 10]


async def test_client_auth_failure_raises_invalid_api_key(server: Any) -> None:
    """HTTP 400 {status_code: 1005} at connect raises InvalidApiKey, without retrying."""
    with pytest.raises(InvalidApiKey):
        async with Client(server.url, "wrong-key"):
            pass
    assert len(server.headers) == 1


@pytest.mark.parametrize(
    ("message", "error"),
    [("Connection limit exceeded", LimitExceeded), ("You are missing privileges", NotEntitled)],
)
async def test_client_refused_connection_raises_per_message(
    server: Any, message: str, error: type[Exception]
) -> None:
    """HTTP 400 {status_code: 1007} raises LimitExceeded or NotEntitled per its message."""
    server.rejection = (1007, message)
    with pytest.raises(error):
        await client(server).connect()


async def test_client_auth_failure_on_reconnect_is_not_retried(server: Any) -> None:
    """If the key is refused when reconnecting, the subscription raises InvalidApiKey."""

    async def first(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        server.rejection = (1005, "Unauthenticated")
        conn.drop()

    server.scripts.append(first)
    async with client(server) as c:
        with pytest.raises(InvalidApiKey):
            await take(c.subscribe([TRADES]), 1)
    assert len(server.headers) == 2


async def test_client_refused_subscribe_raises_from_iterator(server: Any) -> None:
    """An Error answering our Subscribe raises the matching exception from the iterator."""

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.send(native.error_frame(request["id"], "unknown_stream", "no such stream"))

    server.scripts.append(script)
    async with client(server) as c:
        with pytest.raises(UnknownStream, match="no such stream"):
            await take(c.subscribe(["trades:nowhere-xxx-yyy-spot"]), 1)
        assert c.positions == {}


async def test_client_closing_without_retry_raises_disconnected(server: Any) -> None:
    """Closing {retry: false} then close: no reconnect; the iterator raises Disconnected."""

    async def script(conn: Any) -> None:
        await conn.expect("Subscribe")
        await conn.send(native.closing_frame(1008, "key revoked", retry=False))
        await conn.ws.close(1008, "key revoked")

    server.scripts.append(script)
    async with client(server) as c:
        with pytest.raises(Disconnected, match="key revoked"):
            await take(c.subscribe([TRADES]), 1)
    assert len(server.headers) == 1


async def test_client_ping_returns_round_trip(server: Any) -> None:
    """ping() sends a Ping and returns once the matching Pong arrives."""

    async def script(conn: Any) -> None:
        ping = await conn.expect("Ping")
        await conn.send(native.pong_frame(ping["id"]))

    server.scripts.append(script)
    async with client(server) as c, asyncio.timeout(5):
        assert await c.ping() >= 0


async def test_client_unsubscribe_ends_iteration(server: Any) -> None:
    """unsubscribe() sends Unsubscribe and the subscription's iteration ends."""
    unsubscribed = asyncio.Event()

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        await conn.update(TRADES, 6, TRADE)
        message = await conn.expect("Unsubscribe")
        assert message["streams"] == [TRADES]
        unsubscribed.set()

    server.scripts.append(script)
    async with client(server) as c:
        subscription = c.subscribe([TRADES])
        await take(subscription, 1)
        await c.unsubscribe([TRADES])
        async with asyncio.timeout(5):
            assert [m async for m in subscription] == []
            await unsubscribed.wait()
        assert c.positions == {}


async def test_client_second_subscribe_shares_connection(server: Any) -> None:
    """A second subscribe() adds streams on the same connection with its own iterator."""

    async def script(conn: Any) -> None:
        first = await conn.expect("Subscribe")
        await conn.subscribed(first, {TRADES: 5})
        second = await conn.expect("Subscribe")
        assert second["streams"] == [BOOK] and second["depth"] == 10
        await conn.subscribed(second, {BOOK: 3})
        await conn.snapshot(BOOK, 3, BIDS, ASKS)
        await conn.update(TRADES, 6, TRADE)

    server.scripts.append(script)
    async with client(server) as c:
        trades = c.subscribe([TRADES])
        books = c.subscribe([BOOK], depth=10)
        (snapshot,) = await take(books, 1)
        (update,) = await take(trades, 1)
        assert isinstance(snapshot, Snapshot) and update == Update(TRADES, 6, TRADE)
    assert len(server.headers) == 1


async def test_client_close_ends_iteration(server: Any) -> None:
    """Leaving `async with` ends every subscription cleanly."""
    async with client(server) as c:
        subscription = c.subscribe([TRADES])
    async with asyncio.timeout(5):
        assert [m async for m in subscription] == []
    assert not c.connected


async def test_client_subscribe_with_saved_positions_sends_from(server: Any) -> None:
    """resume= seeds event streams' positions; state streams still ask for a snapshot."""

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        assert request["from"] == {TRADES: {"epoch": EPOCH, "seq": 40}}
        await conn.subscribed(request, {TRADES: 42, BOOK: 3})
        await conn.snapshot(BOOK, 3, BIDS, ASKS)
        await conn.update(TRADES, 41, TRADE)

    server.scripts.append(script)
    saved = {TRADES: StreamPosition(40, EPOCH), BOOK: StreamPosition(2, EPOCH)}
    async with client(server) as c:
        messages = await take(c.subscribe([TRADES, BOOK], resume=saved), 2)
    assert [type(m) for m in messages] == [Snapshot, Update] and seqs(messages) == [41]
