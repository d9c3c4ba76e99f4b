"""A block's lines framed once per group for the WebSocket streams of that group.

A detached WebSocket stream (``VegaStream.detach_to``) takes its lines as :class:`Chunk` s: up
to :func:`chunk_size` bytes of lines, each its own text frame, framed once (the seam's
``frame_batch``, the same bytes as framing at write time) and the same objects handed to every
member of the group: written at once to a stream's transport when it took everything before
(``VegaStream.write_batch``), else queued (its outbox then holds a few chunks per block instead
of one item per line). Either way each chunk goes as it is, with no per-stream framing or copy.
A chunk remembers how many lines and payload bytes it carries (metering counts lines, as before).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from tickcast.dialects.vega.wire.filters import Filter
from tickcast.server.seam import frame_batch
from tickcast.server.writer import WRITE_CHUNK


class Chunk(bytes):
    """Text frames of ``lines`` lines holding ``payload`` bytes of lines."""

    lines: int
    payload: int


def chunk(lines: Sequence[bytes]) -> Chunk:
    """``lines`` as one chunk of text frames."""
    framed = Chunk(frame_batch(list(lines)))
    framed.lines = len(lines)
    framed.payload = sum(map(len, lines))
    return framed


def chunks_of(lines: Sequence[bytes], size: int = WRITE_CHUNK) -> list[Chunk]:
    """``lines`` framed, in chunks of about ``size`` bytes of lines (a longer line is alone)."""
    out: list[Chunk] = []
    start = total = 0
    for end, line in enumerate(lines):
        if total and total + len(line) > size:
            out.append(chunk(lines[start:end]))
            start, total = end, 0
        total += len(line)
    if start < len(lines):
        out.append(chunk(lines[start:]))
    return out


def chunk_size(budget: int) -> int:
    """Bytes of lines per chunk for a stream's outbox ``budget``: a quarter of it, between
    :data:`WRITE_CHUNK` and four times that (fewer, bigger chunks: less work per stream per
    chunk; a quarter keeps the slices of a big block as fine as before under small budgets)."""
    return max(WRITE_CHUNK, min(4 * WRITE_CHUNK, budget // 4))


@dataclass(frozen=True, slots=True)
class Framed:
    """The group key of detached WebSocket streams of ``selection``: their lines come as
    chunks (the streams of the chunked HTTP body take plain lines, under the filter itself)."""

    selection: Filter


def selection_of(key: Hashable) -> Filter | None:
    """The filter behind a group key."""
    if isinstance(key, Framed):
        return key.selection
    return key if isinstance(key, Filter) else None
