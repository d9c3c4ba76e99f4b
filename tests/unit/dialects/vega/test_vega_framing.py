"""A block's lines framed once for the detached WebSocket streams: the same bytes as framing at
write time, in chunks of at most a write's size, counting lines and payload for metering."""

from __future__ import annotations

from tickcast.delivery.channel import websocket_text_frames
from tickcast.dialects.vega.endpoint.framing import Framed, chunk, chunks_of, selection_of
from tickcast.dialects.vega.wire.filters import Filter, StreamName


def test_chunks_hold_the_same_bytes_as_framing_at_write_time() -> None:
    lines = [b'{"result":{"trades":[' + bytes([65 + n % 26]) * (n * 37 % 700) + b"]}}"
             for n in range(400)]  # fmt: skip
    chunks = chunks_of(lines, size=4_096)
    assert b"".join(chunks) == websocket_text_frames(lines)
    assert sum(c.lines for c in chunks) == len(lines)
    assert sum(c.payload for c in chunks) == sum(map(len, lines))
    assert all(c.payload <= 4_096 for c in chunks)
    assert len(chunks) > 1


def test_a_line_longer_than_a_chunk_goes_alone_and_nothing_is_empty() -> None:
    big, small = b"x" * 70_000, b"y" * 10
    chunks = chunks_of([small, big, small], size=65_536)
    assert [c.lines for c in chunks] == [1, 1, 1]
    assert bytes(chunks[1]) == websocket_text_frames([big])
    assert chunks_of([]) == []
    one = chunk([small])
    assert (one.lines, one.payload, bytes(one)) == (1, 10, websocket_text_frames([small]))


def test_a_framed_key_names_its_filter() -> None:
    selection = Filter(StreamName.TRADES)
    assert selection_of(Framed(selection)) is selection
    assert selection_of(selection) is selection
    assert selection_of("other") is None
    assert Framed(selection) == Framed(Filter(StreamName.TRADES))  # one group per filter
