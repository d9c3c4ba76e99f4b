"""Shared batches of the Coin Metrics dialect (``framing.SharedBatch``): a batch parsed once and
rendered per connection gives exactly the bytes of numbering each message on its own
(``framing.number``) and framing it (``websocket_text_frames``), for every batch shape and id."""

from __future__ import annotations

import random

import pytest

from tickcast.delivery.channel import websocket_text_frames
from tickcast.dialects.coinmetrics.wire import framing


def _record(size: int, *, pretty: bool = False) -> bytes:
    body = b'{"market":"x","pad":"' + b"p" * size + b'"}'
    return framing.data_record(body if not pretty else body[:-1] + b"\n}", pretty=pretty)


def _frames(rng: random.Random) -> list[bytes]:
    frames: list[bytes] = []
    for _ in range(rng.randint(0, 60)):
        roll = rng.random()
        if roll < 0.1:
            frames.append(b"")  # an event this variant does not show
        elif roll < 0.15:
            frames.append(b'{"warning":{"type":"falling_behind"}}')  # unnumbered
        elif roll < 0.3:
            sizes = [rng.randint(0, 300) for _ in range(rng.randint(1, 4))]
            frames.append(framing.join([_record(size) for size in sizes]))  # a snapshot
        else:
            frames.append(_record(rng.choice([0, 60, 100, 103, 104, 200, 30_000]), pretty=True))
    return frames


IDS = [
    0,
    1,
    8,
    9,
    10,
    95,
    99,
    100,
    998,
    999,
    1_000,
    1_234,
    1_990,
    9_990,
    99_999,
    999_950,
    10**9 - 7,
]


@pytest.mark.parametrize("seed", range(40))
def test_a_shared_batch_renders_what_numbering_each_message_gives(seed: int) -> None:
    rng = random.Random(seed)
    frames = _frames(rng)
    batch = framing.SharedBatch(framing.shared_batch(frames))
    for first in [*IDS, rng.randrange(10**7)]:
        payloads, expected_next = framing.number(frames, first)
        chunks, next_id, nbytes = batch.render(first)
        assert b"".join(chunks) == websocket_text_frames(payloads)
        assert next_id == expected_next
        assert nbytes == sum(len(payload) for payload in payloads)
        assert batch.messages == len(payloads)
        if len(str(first)) == len(str(max(next_id - 1, first))):  # (else one buffer: rare)
            assert all(len(chunk) <= framing.CHUNK_BYTES + 40_000 for chunk in chunks)


def test_large_batches_are_rendered_in_chunks_of_whole_frames() -> None:
    frames = [_record(200)] * 1_000
    chunks, next_id, _ = framing.SharedBatch(framing.shared_batch(frames)).render(5_000)
    assert len(chunks) > 1 and next_id == 6_000
    assert all(len(chunk) <= framing.CHUNK_BYTES for chunk in chunks)
    assert all(chunk[:1] == b"\x81" for chunk in chunks)  # each starts with a frame header


@pytest.mark.parametrize("first", [0, 7, 995, 1_995, 123_456, 998_500, 999_000])
def test_long_runs_cross_thousands_with_the_right_digits(first: int) -> None:
    frames = [_record(20)] * 2_500  # runs of leading digits change inside a chunk
    chunks, next_id, _ = framing.SharedBatch(framing.shared_batch(frames)).render(first)
    assert b"".join(chunks) == websocket_text_frames(framing.number(frames, first)[0])
    assert next_id == first + 2_500


def test_a_batch_without_numbered_records() -> None:
    assert framing.SharedBatch(b"").render(3) == ([b""], 3, 0)
    warning = b'{"warning":1}'
    batch = framing.SharedBatch(framing.shared_batch([b"", warning]))
    assert batch.render(3) == ([websocket_text_frames([warning])], 3, len(warning))
