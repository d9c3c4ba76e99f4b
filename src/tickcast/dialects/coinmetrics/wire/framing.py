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
