"""``TradesGap`` (issue 16): a venue-side trade loss as one seq of the trades stream.

The bus codec carries it (the Redis bus and the durable history store events with it), it goes on
the market's trades stream, the hub renders it for the native dialect as a ``Gap`` of its seq with
reason ``venue`` (live and replayed) and for Coin Metrics as nothing, the SDK parses that as a
typed ``Gap``, and the recorder ignores it.
"""

from __future__ import annotations

import json

from tickcast.bus.codec import decode_event, encode_event
from tickcast.client import Gap
from tickcast.client.messages import parse_message
from tickcast.dialects.coinmetrics.wire.encoders import TradeEncoder
from tickcast.dialects.native.wire import protocol as native
from tickcast.hub.frames import Framer
from tickcast.hub.parts import Group
from tickcast.model import (
    Envelope,
    Market,
    MarketCatalog,
    MarketKind,
    StreamKey,
    StreamKind,
    TradesGap,
)
from tickcast.model.streams import FULL_VIEW, stream_of
from tickcast.server.history_frames import ViewFrames
from tickcast.state import StateKeeper
from tickcast.state.recorder import Recorder

MARKET = Market("bybit-BTCUSDT-future", "bybit", MarketKind.FUTURE, "btc", "usdt", "BTCUSDT", 1, 3)
CATALOG = MarketCatalog([MARKET])
GAP = TradesGap(MARKET.id, 1_700_000_000_000_000_000, "disconnected", "41", None)
ENVELOPE = Envelope(f"trades:{MARKET.id}", 7, "e1", GAP, 0)


class _NoState:
    def quote(self, market: str) -> None:
        return None

    def metric(self, asset: str, metric: str) -> None:
        return None

    def positions(self, market: str) -> list[object]:
        return []


def _group(encoder: object) -> Group:
    key = StreamKey(StreamKind.TRADES, MARKET.id)
    return Group(key=key, encoder=encoder, view=FULL_VIEW, depth_view=None)  # type: ignore[arg-type]


def test_the_bus_codec_round_trips_it_and_it_is_on_the_trades_stream() -> None:
    assert decode_event(encode_event(GAP)) == GAP
    assert str(stream_of(GAP)) == f"trades:{MARKET.id}"


def test_native_renders_a_gap_of_its_seq_live_and_replayed() -> None:
    framer = Framer(catalog=CATALOG, keeper=StateKeeper())
    group = _group(native.NativeEncoder(catalog=CATALOG))
    for frame in (framer.frame(group, ENVELOPE), framer.replay_frame(group, ENVELOPE)):
        assert frame is not None
        assert json.loads(frame) == {
            "type": "Gap", "stream": f"trades:{MARKET.id}", "epoch": "e1",
            "from": 7, "to": 7, "reason": "venue",
        }  # fmt: skip
        message = parse_message(frame)
        assert isinstance(message, Gap)
        assert (message.from_seq, message.to_seq, message.reason) == (7, 7, "venue")


def test_coin_metrics_skips_it() -> None:
    framer = Framer(catalog=CATALOG, keeper=StateKeeper())
    encoder = TradeEncoder(catalog=CATALOG, state=_NoState(), now=lambda: 0)
    group = _group(encoder)
    assert framer.frame(group, ENVELOPE) == b""  # an empty frame: nothing is sent
    assert framer.replay_frame(group, ENVELOPE) == b""


def test_the_recorder_ignores_it() -> None:
    recorder = Recorder(keeper=StateKeeper(), trades_per_market=3, books_per_market=2)
    recorder.on_envelopes([ENVELOPE])
    assert recorder.trades == {}


def test_native_history_replays_it_as_the_same_gap() -> None:
    """Time travel from the durable history (``server/history_frames.py``, which the native
    time travel renders with) renders it as live."""
    frames = ViewFrames(
        native.NativeEncoder(catalog=CATALOG),
        CATALOG,
        StreamKey.parse(ENVELOPE.stream),
        FULL_VIEW,
        prev=ENVELOPE.seq - 1,
    )
    [frame] = frames.frames([ENVELOPE])
    assert json.loads(frame)["type"] == "Gap" and json.loads(frame)["reason"] == "venue"
    assert (json.loads(frame)["from"], json.loads(frame)["to"]) == (7, 7)
