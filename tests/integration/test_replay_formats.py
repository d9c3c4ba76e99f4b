"""Tardis CSV and tickcast recordings replay to the same streams as the capture they came from."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ServerFactory
from tests.integration.capture import SPOT, SPOT_MARKET, decimal_trade, read_spot
from tests.integration.test_replay import BOOK, QUOTES, TRADES, as_decimal, book_steps, collect
from tests.integration.test_replay import replay_server as start_replay

from tickcast.client import Reset, Snapshot, Update

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]
_COMMON = ["exchange", "symbol", "timestamp", "local_timestamp"]


def write_tardis(directory: Path) -> None:
    """The spot capture fixture rewritten as Tardis trades, quotes and incremental_book_L2."""
    capture = read_spot()
    directory.mkdir()
    files = {
        "trades": ["id", "side", "price", "amount"],
        "quotes": ["ask_amount", "ask_price", "bid_price", "bid_amount"],
        "incremental_book_L2": ["is_snapshot", "side", "price", "amount"],
    }
    writers = {}
    handles = []
    for name, columns in files.items():
        handle = (directory / f"binance_{name}_2024-08-08_BTCUSDT.csv").open("w", newline="")
        handles.append(handle)
        writers[name] = csv.writer(handle)
        writers[name].writerow(_COMMON + columns)
    applied = set(capture.depth_lines)
    deferred: list[dict[str, Any]] = []  # updates buffered before the snapshot arrived
    book = writers["incremental_book_L2"]
    head = ["binance", "BTCUSDT"]
    synced = False

    def delta(data: dict[str, Any], local: int) -> None:
        for side, key in (("bid", "b"), ("ask", "a")):
            for price, size in data[key]:
                book.writerow([*head, data["E"] * 1000, local, "false", side, price, size])

    for number, (local_ns, message) in enumerate(capture.lines):
        local = local_ns // 1000
        if "lastUpdateId" in message:
            for side, key in (("bid", "bids"), ("ask", "asks")):
                for price, size in message[key]:
                    book.writerow([*head, local, local, "true", side, price, size])
            for data in deferred:
                delta(data, local)
            synced = True
            continue
        data = message["data"]
        if "@trade" in message["stream"]:
            side = "sell" if data["m"] else "buy"
            row = [data["T"] * 1000, local, data["t"], side, data["p"], data["q"]]
            writers["trades"].writerow(head + row)
        elif "@bookTicker" in message["stream"]:
            row = [local, local, data["A"], data["a"], data["b"], data["B"]]
            writers["quotes"].writerow(head + row)
        elif number in applied:
            if synced:
                delta(data, local)
            else:
                deferred.append(data)
    for handle in handles:
        handle.close()


async def test_replay_tardis_csv_files_merge_into_the_same_streams(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """Three Tardis CSV files (trades, quotes, incremental_book_L2) given as one glob replay
    merged by local_timestamp: the capture's trades in order and its book at every step."""
    capture = read_spot()
    write_tardis(tmp_path / "tardis")
    server = await start_replay(start_server, f"replay:{tmp_path}/tardis/*.csv,speed=max,wait=3")
    until = {TRADES: len(capture.trades), BOOK: len(capture.books) + 1, QUOTES: 2}
    seen = await collect(server, [TRADES, BOOK, QUOTES], until)
    trades = [m for m in seen[TRADES] if isinstance(m, Update)]
    assert [decimal_trade(m.data) for m in trades] == capture.trades
    states = book_steps(seen[BOOK])
    assert [as_decimal(state) for state in states] == capture.books


def recorded(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path, "rt") as stream:
        lines = [json.loads(line) for line in stream]
    return lines[0], lines[1:]


def comparable(message: Any) -> tuple[Any, ...]:
    kind = "snapshot" if isinstance(message, Snapshot) else "update"
    return (message.stream, kind, message.seq, message.data, message.checksum)


async def test_recording_replays_to_the_same_stream(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """`tickcast record` against a server replaying the capture writes a recording that, served
    with replay:, gives the same messages (seq, data, checksum) on every stream."""
    capture = read_spot()
    source = await start_replay(start_server, f"replay:{SPOT},speed=max,wait=3")
    out = tmp_path / "spot.jsonl.gz"
    total = len(capture.trades) + len(capture.books) + len(capture.quotes) + 2
    process = await asyncio.create_subprocess_exec(
        *TICKCAST, "record", TRADES, BOOK, QUOTES, "--out", str(out), "--count", str(total),
        "--url", f"ws://127.0.0.1:{source.port}", "--key", await source.key("pro"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    header, lines = recorded(out)
    assert header["format"] == "tickcast-recording" and header["streams"] == [TRADES, BOOK, QUOTES]
    assert [m["id"] for m in header["markets"]] == [SPOT_MARKET]
    trades = [line["data"] for line in lines if line["stream"] == TRADES]
    assert [decimal_trade(data) for data in trades] == capture.trades

    replayed = await start_replay(start_server, f"replay:{out},speed=max,wait=3")
    counts = {s: sum(1 for line in lines if line["stream"] == s) for s in (TRADES, BOOK, QUOTES)}
    seen = await collect(replayed, [TRADES, BOOK, QUOTES], counts)
    for stream in (TRADES, BOOK, QUOTES):
        expected = [
            (line["stream"], line["type"], line["seq"], line["data"], line.get("checksum"))
            for line in lines
            if line["stream"] == stream and line["seq"] > 0
        ]
        got = [
            comparable(m)
            for m in seen[stream]
            if isinstance(m, Snapshot | Update) and m.seq > 0 and not isinstance(m, Reset)
        ]
        assert got == expected, stream


async def test_record_stops_cleanly_on_sigterm(start_server: ServerFactory, tmp_path: Path) -> None:
    """SIGTERM mid-recording: exit 0 and a complete gzip file (header, then the trades so far);
    a stream a recording cannot replay is refused with exit 2."""
    server = await start_replay(start_server, f"replay:{SPOT},speed=1,wait=1")
    out = tmp_path / "partial.jsonl.gz"
    key = await server.key("pro")
    url = f"ws://127.0.0.1:{server.port}"
    process = await asyncio.create_subprocess_exec(
        *TICKCAST, "record", TRADES, "--out", str(out), "--url", url, "--key", key,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    source = server.node.sources[0]
    async with asyncio.timeout(20):
        while (await server.node.bus.position(TRADES)).seq < 20:
            await asyncio.sleep(0.05)
    process.terminate()
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, stderr.decode()
    header, lines = recorded(out)
    assert header["streams"] == [TRADES] and len(lines) >= 20
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert source.passes == 0  # the replay was still running
    refused = await asyncio.create_subprocess_exec(
        *TICKCAST, "record", "ticker:btc", "--out", str(tmp_path / "x.gz"), "--url", url,
        "--key", key, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(refused.communicate(), 15)
    assert refused.returncode == 2 and b"cannot record 'ticker:btc'" in stderr
