"""Segments: many events of one (stream, epoch) in one stored value, columnar (sans-I/O).

The embedded store keeps events in segment rows rather than one row per event: reading a
market-day back is then a thousand blob reads and a few C-level array conversions instead of a
million SQLite rows, and writing a batch binds a few parameters per segment instead of six per
event (the writer thread holds the GIL that much less).

Layout of a segment (little-endian): ``count`` (u32), ``flags`` (u32: bit 0 = rows in
``(time_ns, id)`` order, bit 1 = rows in seq order), then ``count`` int64 each of ids, seqs,
times and receive times, ``count`` u32 end offsets of the payloads, then the payloads (the bus
codec's JSON of each event) back to back.
"""

from __future__ import annotations

import gc
import struct
import sys
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, repeat

from tickcast.history.rows import Row

HEADER = struct.Struct("<II")
TIME_ORDER, SEQ_ORDER = 1, 2
_BIG = sys.byteorder == "big"
_make_row = partial(tuple.__new__, Row)
"""Row from a tuple of its fields, entirely in C (no Python ``__new__`` per row)."""


@dataclass(slots=True)
class Columns:
    """The decoded columns of one segment (or of rows about to be encoded)."""

    ids: list[int]
    seqs: list[int]
    times: list[int]
    recvs: list[int]
    data: list[bytes]
    flags: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def rows(
        self, stream: str, kind: str, epoch: str, lo: int = 0, hi: int | None = None
    ) -> list[Row]:
        """Rows ``lo:hi`` of the segment as ``Row`` tuples."""
        s = slice(lo, hi)
        fields = zip(
            repeat(stream), repeat(kind), repeat(epoch),
            self.seqs[s], self.times[s], self.recvs[s], self.data[s], self.ids[s],
        )  # fmt: skip
        return list(map(_make_row, fields))

    def pick(self, keep: Sequence[int]) -> Columns:
        """The rows at positions ``keep`` (in that order), flags recomputed."""
        return columns_of(
            [self.ids[i] for i in keep],
            [self.seqs[i] for i in keep],
            [self.times[i] for i in keep],
            [self.recvs[i] for i in keep],
            [self.data[i] for i in keep],
        )


def _ordered(values: list[int]) -> bool:
    return all(a <= b for a, b in zip(values, values[1:], strict=False))


def columns_of(
    ids: list[int], seqs: list[int], times: list[int], recvs: list[int], data: list[bytes]
) -> Columns:
    """Columns with their order flags (ids are increasing in every segment)."""
    flags = (TIME_ORDER if _ordered(times) else 0) | (SEQ_ORDER if _ordered(seqs) else 0)
    return Columns(ids, seqs, times, recvs, data, flags)


def _int64s(values: list[int]) -> bytes:
    packed = array("q", values)
    if _BIG:
        packed.byteswap()
    return packed.tobytes()


def encode(columns: Columns) -> bytes:
    """The stored bytes of a segment (OverflowError if a value is beyond 64 bits)."""
    ends = array("I", accumulate(map(len, columns.data)))
    if _BIG:
        ends.byteswap()
    return b"".join((
        HEADER.pack(len(columns), columns.flags),
        _int64s(columns.ids), _int64s(columns.seqs), _int64s(columns.times),
        _int64s(columns.recvs), ends.tobytes(), *columns.data,
    ))  # fmt: skip


def _read(kind: str, blob: memoryview, at: int, count: int) -> list[int]:
    values = array(kind)
    values.frombytes(blob[at : at + count * values.itemsize])
    if _BIG:
        values.byteswap()
    return values.tolist()


def _chunk(stored: bytes, blob: memoryview, at: int) -> tuple[Columns, int]:
    """The chunk encoded at ``at`` and the offset past it."""
    try:
        count, flags = HEADER.unpack_from(stored, at)
    except struct.error as exc:
        raise ValueError("not a history segment") from exc
    at += HEADER.size
    ids, seqs, times, recvs = (_read("q", blob, at + n * 8 * count, count) for n in range(4))
    at += 32 * count
    ends = _read("I", blob, at, count)
    at += 4 * count
    past = at + (ends[-1] if ends else 0)
    if len(ends) != count or past > len(stored):
        raise ValueError("not a history segment")
    payloads = stored[at:past]
    data = [payloads[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=False)]
    return Columns(ids, seqs, times, recvs, data, flags), past


def decode(stored: bytes) -> Columns:
    """The inverse of :func:`encode`, or of encodings appended to each other (a segment grown
    by concatenation); ValueError if ``stored`` is neither."""
    blob = memoryview(stored)
    whole, at = _chunk(stored, blob, 0)
    while at < len(stored):
        more, at = _chunk(stored, blob, at)
        whole = joined(whole, more)
    return whole


def joined(first: Columns, second: Columns) -> Columns:
    """``first`` followed by ``second`` (ids increasing), order flags combined without a scan."""
    flags = first.flags & second.flags
    if first.ids and second.ids:
        if (first.times[-1], first.ids[-1]) > (second.times[0], second.ids[0]):
            flags &= ~TIME_ORDER
        if first.seqs[-1] > second.seqs[0]:
            flags &= ~SEQ_ORDER
    first.ids += second.ids
    first.seqs += second.seqs
    first.times += second.times
    first.recvs += second.recvs
    first.data += second.data
    first.flags = flags
    return first


Window = tuple[int, int] | list[int]
"""Rows of a segment a query wants: a ``lo:hi`` slice, or positions in the wanted order."""


def time_window(
    columns: Columns, low: int, high: int, mark: tuple[int, int] | None, descending: bool
) -> Window:
    """The rows with ``low <= time <= high`` beyond ``mark`` (``(time, id)``: after it, or
    before it when ``descending``), in ``(time, id)`` order or its reverse."""
    times, ids = columns.times, columns.ids
    if not columns.flags & TIME_ORDER:
        keep = [
            i for i, t in enumerate(times)
            if low <= t <= high
            and (mark is None or ((t, ids[i]) < mark if descending else (t, ids[i]) > mark))
        ]  # fmt: skip
        keep.sort(key=lambda i: (times[i], ids[i]), reverse=descending)
        return keep
    lo, hi = bisect_left(times, low), bisect_right(times, high)
    if mark is not None:
        first, past = bisect_left(times, mark[0]), bisect_right(times, mark[0])
        if descending:
            while first < past and ids[first] < mark[1]:
                first += 1
            hi = min(hi, first)
        else:
            while first < past and ids[first] <= mark[1]:
                first += 1
            lo = max(lo, first)
    return (lo, max(lo, hi))


def seq_window(columns: Columns, seq: int, until_ns: int) -> Window:
    """The rows with a seq above ``seq`` and a time at or before ``until_ns``, in seq order."""
    seqs, times = columns.seqs, columns.times
    if not columns.flags & SEQ_ORDER:
        keep = [i for i, s in enumerate(seqs) if s > seq and times[i] <= until_ns]
        keep.sort(key=lambda i: (seqs[i], columns.ids[i]))
        return keep
    lo = bisect_right(seqs, seq)
    keep = [i for i in range(lo, len(seqs)) if times[i] <= until_ns]
    return (lo, len(seqs)) if len(keep) == len(seqs) - lo else keep


def id_window(columns: Columns, after: int, low: int, high: int) -> Window:
    """The rows with an id above ``after`` and ``low <= time <= high``, in id order."""
    times = columns.times
    lo = bisect_right(columns.ids, after)
    keep = [i for i in range(lo, len(times)) if low <= times[i] <= high]
    return (lo, len(times)) if len(keep) == len(times) - lo else keep


def window_rows(
    columns: Columns, window: Window, stream: str, kind: str, epoch: str, reverse: bool = False
) -> list[Row]:
    """The rows of ``window`` (a slice reversed when ``reverse``)."""
    if isinstance(window, list):
        return columns.pick(window).rows(stream, kind, epoch)
    found = columns.rows(stream, kind, epoch, *window)
    if reverse:
        found.reverse()
    return found


class _Pause:
    """Automatic garbage collection off while a read builds its rows (process-wide, counted).

    A market-day is a million new Row tuples: with collection on, the collector runs over them
    again and again while they are built (about half the read time, measured in
    benchmarks/history.py); they hold no cycles, and anything the rest of the process allocates
    meanwhile is collected at the next collection after the read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._paused = False

    def __enter__(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth == 1 and gc.isenabled():
                gc.disable()
                self._paused = True

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._paused:
                self._paused = False
                gc.enable()


gc_paused = _Pause()
