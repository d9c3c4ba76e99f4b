"""Coin Metrics dialect: the cost of encoding once vs the per-connection cm_sequence_id splice.

Prints, for a trade and a 100-level book snapshot, the time to encode one frame (done once per
event and variant) and the time per connection to turn the shared frame into that connection's
message (``framing.number``), plus the total for N connections against encoding per connection;
then the live path, a shared batch parsed once and rendered per connection (``SharedBatch``).

    .venv/bin/python benchmarks/cm_framing.py [--connections 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from tickcast.delivery.channel import websocket_text_frames
from tickcast.dialects.coinmetrics.wire import framing
from tickcast.dialects.coinmetrics.wire.streams import EncoderSet, EncoderSpec
from tickcast.model import (
    AssetMetric,
    BookSnapshot,
    Market,
    MarketCatalog,
    MarketKind,
    Position,
    Quote,
    Side,
    StreamKind,
    StreamPosition,
    Trade,
)

MARKET = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)
T = 1_767_225_600_123_456_789


class _NoState:
    def quote(self, market: str) -> Quote | None:
        return None

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        return None

    def positions(self, market: str) -> list[Position]:
        return []


def _per_call(function: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    encoders = EncoderSet(catalog=MarketCatalog([MARKET]), state=_NoState(), now=lambda: T)
    trade = Trade(MARKET.id, "123456", 8_725_012, 150_000, Side.BUY, T)
    levels = tuple((8_725_000 - i * 100, 10_000 + i) for i in range(100))
    asks = tuple((8_726_000 + i * 100, 10_000 + i) for i in range(100))
    book = BookSnapshot(MARKET.id, levels, asks, T)
    trades = encoders.get(EncoderSpec("market-trades"))
    books = encoders.get(EncoderSpec("market-orderbooks"))
    cases = {
        "trade": lambda: trades.update_frame("s", 1, trade, None),
        "book snapshot (100+100 levels)": lambda: books.snapshot_frame(
            "s", StreamKind.BOOK, StreamPosition(1, "e"), [book], checksum=None, reset=False
        ),
    }
    n = args.connections
    print(f"{'message':32} {'encode µs':>10} {'splice µs':>10} {'bytes':>7} "
          f"{'once+splice ×N ms':>18} {'encode ×N ms':>13}  (N={n})")  # fmt: skip
    for name, encode in cases.items():
        frame = encode()
        assert isinstance(frame, bytes)
        encode_s = _per_call(encode, 2000 if "trade" in name else 200)
        batch = [frame] * 64  # the writer numbers a drained batch at a time
        splice_s = _per_call(lambda b=batch: framing.number(b, 12345), 500) / len(batch)
        shared = (encode_s + n * splice_s) * 1e3
        separate = n * encode_s * 1e3
        print(f"{name:32} {encode_s * 1e6:10.2f} {splice_s * 1e6:10.2f} {len(frame):7d} "
              f"{shared:18.2f} {separate:13.2f}")  # fmt: skip
    shared_batches(trades.update_frame("s", 1, trade, None), n)


def shared_batches(frame: bytes, connections: int) -> None:
    """The live path: a channel's batch of B trades, parsed once (``SharedBatch``) and rendered
    for every connection (ids 1,000 apart), against numbering and framing it per connection."""
    print(f"\n{'trades per batch':>16} {'per-message splice ns':>22} {'shared batch ns':>16}"
          f"  (per message and connection, N={connections})")  # fmt: skip
    firsts = [50_000 + 1_000 * c for c in range(connections)]
    for size in (1, 10, 100, 1000):
        frames = [frame] * size
        deliveries = size * connections
        old = _per_call(lambda f=frames: _per_message(f, firsts), 3) / deliveries * 1e9
        new = _per_call(lambda f=frames: _shared(f, firsts), 3) / deliveries * 1e9
        print(f"{size:16d} {old:22.0f} {new:16.0f}")


def _per_message(frames: list[bytes], firsts: list[int]) -> None:
    for first in firsts:
        websocket_text_frames(framing.number(frames, first)[0])


def _shared(frames: list[bytes], firsts: list[int]) -> None:
    batch = framing.SharedBatch(framing.shared_batch(frames))
    for first in firsts:
        batch.render(first)


if __name__ == "__main__":
    main()
