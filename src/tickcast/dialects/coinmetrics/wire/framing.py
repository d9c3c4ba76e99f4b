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

CHUNK_BYTES = 49_152
"""A connection's rendering of a batch is joined in chunks of about this size."""
_SMALL = [b"%d" % value for value in range(1_000)]
"""Ids under 1,000."""
_LOW = [b"%03d" % value for value in range(1_000)]
"""The last three digits of an id of 1,000 or more (its leading digits are one shared part)."""


def shared_batch(payloads: list[bytes]) -> bytes:
    """The bytes a channel shares between Coin Metrics connections for one loop pass: the frames'
    records, placeholders included (each connection renders them with :class:`SharedBatch`)."""
    return RS.join([payload for payload in payloads if payload])


def _width(value: int) -> int:
    return len(b"%d" % value)


class SharedBatch:
    """One shared batch (:func:`shared_batch`), parsed once, rendered per connection.

    Each numbered record is split around its placeholder. For a digit count ``d`` the batch
    keeps, per chunk, a list ``[glue, hi, lo, glue, hi, lo, …, tail]`` where a ``glue`` holds the
    previous record's tail, the record's WebSocket header (its length depends on ``d``) and its
    head. An id is written as ``hi`` (its leading digits: ``id // 1000``, the same for a run of up
    to 1,000 ids) and ``lo`` (its last three digits, from a table). A connection fills the slots
    with slice assignments (``[hi] * n`` and a slice of the table, per run of 1,000) and joins the
    list once per chunk: per connection a constant number of Python operations, whatever the
    batch size, and no id is formatted. Chunks stay under ``CHUNK_BYTES``: larger buffers are
    allocated by ``mmap`` and page-faulted anew for every connection. Records without a
    placeholder (none on the live path) are framed into the glue.
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
        if count == 1:  # a quiet stream: one message per pass
            one = b"%d" % next_id
            header = text_frame_header(self._lengths[0] + len(one))
            data = b"".join((self._heads[0], header, self._pres[0], one, self._trailer))
            return [data], next_id + 1, self._text_bytes + len(one)
        last = next_id + count - 1
        width = _width(next_id)
        if _width(last) != width:  # the ids cross a power of ten: frame each on its own
            digits = [b"%d" % value for value in range(next_id, last + 1)]
            data = self._render_mixed(digits)
            return [data], last + 1, self._text_bytes + sum(len(d) for d in digits)
        chunks = self._by_digits.get(width)
        if chunks is None:
            chunks = self._by_digits[width] = self._chunks(width)
        out: list[bytes] = []
        for parts, start, end in chunks:
            _fill(parts, next_id + start, end - start)
            out.append(b"".join(parts))
        return out, last + 1, self._text_bytes + count * width

    def _chunks(self, width: int) -> list[tuple[list[bytes], int, int]]:
        chunks: list[tuple[list[bytes], int, int]] = []
        heads, pres, lengths = self._heads, self._pres, self._lengths
        for start, end in self._bounds:
            parts: list[bytes] = []
            for index in range(start, end):
                head = heads[index] if index > start or start == 0 else b""
                glue = head + text_frame_header(lengths[index] + width) + pres[index]
                parts += (glue, b"", b"")
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


def _fill(parts: list[bytes], first: int, count: int) -> None:
    """Write the ids ``first`` .. ``first + count - 1`` into ``parts``' ``hi``/``lo`` slots, one
    run of equal leading digits at a time."""
    slot = 0
    while count:
        high, low = divmod(first, 1_000)
        take = min(count, 1_000 - low)
        stop = 3 * (slot + take)
        if high:
            parts[3 * slot + 1 : stop : 3] = [b"%d" % high] * take
            parts[3 * slot + 2 : stop : 3] = _LOW[low : low + take]
        else:
            parts[3 * slot + 1 : stop : 3] = [b""] * take
            parts[3 * slot + 2 : stop : 3] = _SMALL[low : low + take]
        slot += take
        first += take
        count -= take
