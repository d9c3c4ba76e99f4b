"""``tickcast export``: stored history to a typed Parquet file, one row per event."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tickcast.cli.main import main
from tickcast.clock import ManualClock
from tickcast.history.service import History
from tickcast.history.sqlite import SqliteHistory
from tickcast.model import BookDelta, BookSnapshot, Envelope, Side, Trade
from tickcast.model.timefmt import rfc3339_ns

MARKET = "binance-btc-usdt-spot"
T0 = (time.time_ns() // 86_400_000_000_000 - 1) * 86_400_000_000_000


async def stored(path: Path) -> None:
    history = History(lambda: SqliteHistory(path), clock=ManualClock(start_ns=T0 + 10**12))
    await history.start()
    trades = [
        Envelope(f"trades:{MARKET}", n, "e1", Trade(MARKET, f"t{n}", 100 + n, 2, Side.SELL,
                 T0 + n, buyer="b" if n == 1 else None), 0)
        for n in range(1, 6)
    ]  # fmt: skip
    book = [
        Envelope(
            f"book:{MARKET}", 1, "e1", BookSnapshot(MARKET, ((99, 1),), ((101, 1),), T0, 7), 0
        ),
        Envelope(f"book:{MARKET}", 2, "e1", BookDelta(MARKET, ((98, 3),), (), T0 + 2, 8), 0),
    ]  # fmt: skip
    history.add(trades)
    history.add(book)
    await history.stop()


async def test_export_writes_typed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.sqlite3"
    await stored(path)
    out = tmp_path / "out.parquet"
    argv = [
        "export", f"trades:{MARKET}", f"book:{MARKET}", "--history", f"sqlite:///{path}",
        "--from", rfc3339_ns(T0 + 2), "--to", rfc3339_ns(T0 + 4), "--out", str(out),
    ]  # fmt: skip
    assert await _run(argv) == 0
    assert "4 events written" in capsys.readouterr().out
    table = pq.read_table(out)
    assert table.column("seq").to_pylist() == [2, 3, 4, 2]
    assert table.column("type").to_pylist() == ["Trade", "Trade", "Trade", "BookDelta"]
    assert table.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert table.schema.field("price").type == pa.int64()
    assert table.schema.field("bids").type == pa.list_(pa.list_(pa.int64()))
    assert table.column("price").to_pylist()[:3] == [102, 103, 104]
    assert table.column("side").to_pylist()[:3] == ["sell"] * 3
    assert table.column("bids").to_pylist()[3] == [[98, 3]]
    assert table.column("checksum").to_pylist() == [None, None, None, 8]


async def test_export_refuses_bad_arguments(tmp_path: Path) -> None:
    """A bad stream, a bad time, history off: exit status 2."""
    out = str(tmp_path / "x.parquet")
    history = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    assert await _run(["export", "nope", "--history", history, "--out", out]) == 2
    assert await _run(["export", f"trades:{MARKET}", "--from", "yesterday", "--history", history,
                       "--out", out]) == 2  # fmt: skip
    assert await _run(["export", f"trades:{MARKET}", "--history", "off", "--out", out]) == 2


async def _run(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)
