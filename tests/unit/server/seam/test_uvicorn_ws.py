"""Batched frames are valid WebSocket frames, as a real protocol parser sees them."""

from __future__ import annotations

from websockets.frames import Opcode
from websockets.protocol import OPEN, Protocol, Side

from tickcast.server.seam.uvicorn_ws import FrameBoundary, frame_batch, text_frame_header


def test_frame_batch_parses_as_separate_text_frames() -> None:
    """Payloads of every length class come out as separate, final, unmasked text frames."""
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 65_535, b"w" * 65_536, '{"é":1}'.encode()]
    client = Protocol(Side.CLIENT, state=OPEN, max_size=None)
    client.receive_data(frame_batch(payloads))
    frames = client.events_received()
    assert [frame.data for frame in frames] == payloads
    assert all(frame.opcode is Opcode.TEXT and frame.fin for frame in frames)


def test_text_frame_header_lengths() -> None:
    """The three RFC 6455 length encodings."""
    assert text_frame_header(5) == b"\x81\x05"
    assert text_frame_header(300) == b"\x81\x7e\x01\x2c"
    assert text_frame_header(70_000) == b"\x81\x7f" + (70_000).to_bytes(8, "big")


def test_frame_boundary_follows_client_frames_split_anywhere() -> None:
    """Masked client frames of every length class, read in chunks cut at every offset: the
    tracker is at a boundary exactly where a frame ends (where the lean parser may start)."""
    client = Protocol(Side.CLIENT, state=OPEN, max_size=None)
    for payload in ("", "x" * 125, "y" * 126, "z" * 65_536):
        client.send_text(payload.encode())
    frames = client.data_to_send()
    data = b"".join(frames)
    ends = {sum(len(frame) for frame in frames[: i + 1]) for i in range(len(frames))}
    for step in (1, 3, 7, 13, 1_000, len(data)):
        boundary = FrameBoundary()
        for offset in range(0, len(data), step):
            chunk = data[offset : offset + step]
            boundary.feed(chunk)
            assert boundary.at_boundary() == (offset + len(chunk) in ends), (step, offset)
