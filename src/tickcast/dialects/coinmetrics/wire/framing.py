"""Frames of the Coin Metrics stream dialect: encoded once, numbered per connection.

Every data message carries ``cm_sequence_id``, a counter of the connection ("resets on
disconnection"), so the bytes cannot be identical for every subscriber. The encoder therefore
renders each message once with a one-byte placeholder (``SEQ``, a NUL) where the counter's
digits go; the connection's writer replaces it with its own counter (``number``). JSON text
never contains a raw NUL or a raw record separator (control characters are escaped inside
strings), so neither byte can be confused with content.

A frame (what the hub shares between connections) holds zero or more records separated by
``RS``: a snapshot or a backfill may carry several messages, and ``b""`` is a frame of no
message (an event this variant does not show, e.g. a trade that is not a liquidation).
A record with no placeholder (warnings, errors) is sent as it is, unnumbered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from tickcast.delivery.channel import text_frame_header

SEQ = b"\x00"
"""Where the connection's ``cm_sequence_id`` digits go."""
RS = b"\x1e"
"""Separates the records (one WebSocket text message each) of a frame."""

_COMPACT_TAIL = b',"cm_sequence_id":"' + SEQ + b'"}'
_PRETTY_TAIL = b',\n  "cm_sequence_id": "' + SEQ + b'"\n}'


def data_record(body: bytes, *, pretty: bool) -> bytes:
    """Append the ``cm_sequence_id`` placeholder to an encoded JSON object ``body``.

    ``body`` is ``orjson`` output: compact (ending ``}``) or indented by two (ending ``\\n}``).
    """
    if pretty:
        return body[:-2] + _PRETTY_TAIL
    return body[:-1] + _COMPACT_TAIL


def join(records: Iterable[bytes]) -> bytes:
    """One frame from several records."""
    return RS.join(records)


def records(frame: bytes) -> list[bytes]:
    """The records of a frame (none for ``b""``)."""
    if not frame:
        return []
    if RS not in frame:
        return [frame]
    return [record for record in frame.split(RS) if record]


def number(frames: Iterable[bytes], next_id: int) -> tuple[list[bytes], int]:
    """Turn shared frames into this connection's messages.

    Returns the WebSocket text payloads and the next ``cm_sequence_id``. Per message this is one
    ``rfind`` (the placeholder is near the end) and one concatenation: the encoding is shared.
    """
    out: list[bytes] = []
    append = out.append
    for frame in frames:
        if not frame:
            continue
        for record in frame.split(RS) if RS in frame else (frame,):
            at = record.rfind(SEQ)
            if at < 0:
                if record:
                    append(record)
                continue
            append(b"".join((record[:at], str(next_id).encode(), record[at + 1 :])))
            next_id += 1
    return out, next_id


# -- shared batches: one parse per batch, one join per connection --------------------------------

DIGIT_BLOCK = 1_000
"""Ids are formatted in blocks of this many consecutive values, shared by every connection."""
_CACHED_BLOCKS = 64
_MIN_BLOCK_USE = 256
"""A block not cached yet is built only for a run of at least this many ids (else each id is
formatted on its own): a connection with small batches never builds blocks it hardly uses."""
_blocks: OrderedDict[int, list[bytes]] = OrderedDict()
CHUNK_BYTES = 49_152
"""A connection's rendering of a batch is joined in chunks of about this size."""


def shared_batch(payloads: list[bytes]) -> bytes:
    """The bytes a channel shares between Coin Metrics connections for one loop pass: the frames'
    records, placeholders included (each connection renders them with :class:`SharedBatch`)."""
    return RS.join([payload for payload in payloads if payload])


def ids(first: int, count: int) -> list[bytes]:
    """The ASCII digits of ``first`` .. ``first + count - 1``."""
    if count < _MIN_BLOCK_USE // 4:
        return [b"%d" % value for value in range(first, first + count)]
    out: list[bytes] = []
    while count:
        block, offset = divmod(first, DIGIT_BLOCK)
        take = min(count, DIGIT_BLOCK - offset)
        digits = _blocks.get(block)
        if digits is not None:
            _blocks.move_to_end(block)
        elif take >= _MIN_BLOCK_USE:
            start = block * DIGIT_BLOCK
            digits = [b"%d" % value for value in range(start, start + DIGIT_BLOCK)]
            _blocks[block] = digits
            if len(_blocks) > _CACHED_BLOCKS:
                _blocks.popitem(last=False)
        if digits is None:
            out += [b"%d" % value for value in range(first, first + take)]
        else:
            out += digits[offset : offset + take]
        first += take
        count -= take
    return out


class SharedBatch:
    """One shared batch (:func:`shared_batch`), parsed once, rendered per connection.

    Each numbered record is split around its placeholder. For a digit count ``d`` the batch
    keeps, per chunk, a list ``[glue_a, ·, glue_a+1, ·, …, ·, tail]`` where ``glue_i`` holds the
    previous record's tail, record ``i``'s WebSocket header (its length depends on ``d``) and its
    head: a connection writes its ids into the ``·`` slots (one slice assignment) and joins the
    list (one ``bytes.join``). Per connection and chunk that is a constant number of Python
    operations, whatever the batch size; the ids come from shared blocks (:func:`ids`). Chunks
    stay under ``CHUNK_BYTES``: larger buffers are allocated by ``mmap`` and page-faulted anew
    for every connection. Records without a placeholder (none on the live path) are framed
    into the glue.
    """

    __slots__ = (
        "_bounds",
        "_by_digits",
        "_heads",
        "_lengths",
        "_pres",
        "_text_bytes",
        "_trailer",
        "messages",
        "numbered",
    )

    def __init__(self, data: bytes) -> None:
        self._heads: list[bytes] = []
        self._pres: list[bytes] = []
        self._lengths: list[int] = []
        head = b""
        for record in data.split(RS) if data else ():
            at = record.rfind(SEQ)
            if at < 0:
                head += text_frame_header(len(record)) + record
                continue
            self._heads.append(head)
            self._pres.append(record[:at])
            self._lengths.append(len(record) - 1)
            head = record[at + 1 :]
        self._trailer = head
        self.numbered = len(self._pres)
        self.messages = data.count(RS) + 1 if data else 0
        self._text_bytes = len(data) - max(self.messages - 1, 0) - self.numbered
        """The records' bytes without placeholders (each connection adds its ids' digits)."""
        self._bounds = self._chunk_bounds()
        self._by_digits: dict[int, list[tuple[list[bytes], int, int]]] = {}

    def _chunk_bounds(self) -> list[tuple[int, int]]:
        bounds: list[tuple[int, int]] = []
        start, size = 0, 0
        for index, (head, length) in enumerate(zip(self._heads, self._lengths, strict=True)):
            size += len(head) + length + 40  # header and digits, generously
            if size > CHUNK_BYTES and index > start:
                bounds.append((start, index))
                start, size = index, len(head) + length + 40
        bounds.append((start, self.numbered))
        return bounds

    def render(self, next_id: int) -> tuple[list[bytes], int, int]:
        """This connection's wire bytes (WebSocket text frames, in chunks), its next
        ``cm_sequence_id`` and the payload bytes (without frame headers)."""
        count = self.numbered
        if not count:
            return [self._trailer], next_id, self._text_bytes
        digits = ids(next_id, count)
        width = len(digits[0])
        if len(digits[-1]) != width:  # the ids cross a power of ten: frame each on its own
            data = self._render_mixed(digits)
            return [data], next_id + count, self._text_bytes + sum(len(d) for d in digits)
        chunks = self._by_digits.get(width)
        if chunks is None:
            chunks = self._by_digits[width] = self._chunks(width)
        out: list[bytes] = []
        for parts, start, end in chunks:
            parts[1 : 2 * (end - start) : 2] = digits[start:end]
            out.append(b"".join(parts))
        return out, next_id + count, self._text_bytes + count * width

    def _chunks(self, width: int) -> list[tuple[list[bytes], int, int]]:
        chunks: list[tuple[list[bytes], int, int]] = []
        heads, pres, lengths = self._heads, self._pres, self._lengths
        for start, end in self._bounds:
            parts: list[bytes] = []
            for index in range(start, end):
                head = heads[index] if index > start or start == 0 else b""
                parts += (head + text_frame_header(lengths[index] + width) + pres[index], b"")
            parts.append(heads[end] if end < self.numbered else self._trailer)
            chunks.append((parts, start, end))
        return chunks

    def _render_mixed(self, digits: list[bytes]) -> bytes:
        parts: list[bytes] = []
        for head, pre, length, value in zip(
            self._heads, self._pres, self._lengths, digits, strict=True
        ):
            parts += (head, text_frame_header(length + len(value)), pre, value)
        parts.append(self._trailer)
        return b"".join(parts)
