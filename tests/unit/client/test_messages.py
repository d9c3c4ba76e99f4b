"""Parsing native server frames into SDK messages (frames built with the server's own encoder)."""

from __future__ import annotations

import json

import pytest

from tickcast.client.messages import (
    Closing,
    Gap,
    Pong,
    ServerError,
    Snapshot,
    StreamStart,
    Subscribed,
    Unsubscribed,
    Update,
    parse_message,
)
from tickcast.dialects.native.wire import protocol as native
from tickcast.errors import InvalidMessage, UnknownCommand
from tickcast.model import StreamPosition

TRADES = "trades:binance-btc-usdt-spot"
BOOK = "book:binance-btc-usdt-spot"


def test_parse_message_subscribed_lists_stream_starts() -> None:
    """Subscribed carries each stream's (epoch, seq) at subscription time."""
    frame = native.subscribed_frame(7, [(TRADES, StreamPosition(5, "e1"))])
    assert parse_message(frame) == Subscribed(7, (StreamStart(TRADES, "e1", 5),))


def test_parse_message_update_keeps_data_and_checksum() -> None:
    """An Update keeps its data dict and optional checksum."""
    text = json.dumps(
        {"type": "Update", "stream": BOOK, "seq": 3, "data": {"bids": []}, "checksum": 42}
    )
    assert parse_message(text) == Update(BOOK, 3, {"bids": []}, 42)
    plain = json.dumps({"type": "Update", "stream": TRADES, "seq": 4, "data": {"id": "1"}})
    assert parse_message(plain) == Update(TRADES, 4, {"id": "1"}, None)


def test_parse_message_snapshot_reads_reset_flag() -> None:
    """A Snapshot is a reset only when the server says ``reset: true``."""
    body = {"type": "Snapshot", "stream": BOOK, "epoch": "e", "seq": 9, "data": {}}
    assert parse_message(json.dumps({**body, "reset": True})) == Snapshot(
        BOOK, "e", 9, {}, reset=True
    )
    assert parse_message(json.dumps(body)) == Snapshot(BOOK, "e", 9, {}, reset=False)


def test_parse_message_gap_names_lost_range() -> None:
    """A Gap carries the lost range and its reason."""
    frame = native.gap_frame(TRADES, "e2", 10, 20, "history")
    assert parse_message(frame) == Gap(TRADES, "e2", 10, 20, "history")


def test_parse_message_control_replies() -> None:
    """Error, InvalidMessage, Pong, Unsubscribed and Closing all parse."""
    assert parse_message(native.error_frame(3, "unknown_stream", "no")) == ServerError(
        "unknown_stream", "no", 3
    )
    assert parse_message(native.error_frame(None, "rate_limited", "slow")) == ServerError(
        "rate_limited", "slow", None
    )
    assert parse_message(native.invalid_message_frame("bad")) == ServerError(
        "invalid_message", "bad", None
    )
    assert parse_message(native.pong_frame(4)) == Pong(4)
    assert parse_message(native.unsubscribed_frame(5, [TRADES])) == Unsubscribed(5, (TRADES,))
    assert parse_message(native.closing_frame(1001, "restart", retry=True)) == Closing(
        1001, "restart", True
    )


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"type":"Update","stream":"x","seq":"1","data":{}}',
        '{"type":"Update","stream":"x","seq":true,"data":{}}',
        '{"type":"Snapshot","stream":"x","seq":1,"data":{}}',
        '{"type":"Gap","stream":"x","from":1}',
        '{"type":"Subscribed","id":1,"streams":["x"]}',
    ],
)
def test_parse_message_rejects_malformed_frames(text: str) -> None:
    """Malformed frames raise InvalidMessage."""
    with pytest.raises(InvalidMessage):
        parse_message(text)


def test_parse_message_rejects_unknown_type() -> None:
    """An unknown message type raises UnknownCommand."""
    with pytest.raises(UnknownCommand):
        parse_message('{"type":"Bogus"}')
