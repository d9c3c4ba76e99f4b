"""A Coin Metrics connection's transport as a shared channel's sink (``delivery/channel.py``).

Coin Metrics connections on the same streams share a hub channel like native ones do: the
channel frames each loop pass's payloads ONCE (``framing.shared_batch``: the records, with the
``cm_sequence_id`` placeholder) and hands the same object to every direct member's ``write``.
Here that object is parsed once (the first connection to see it) into a
:class:`~tickcast.dialects.coinmetrics.wire.framing.SharedBatch`, and each connection renders
it with its own ids: a slice assignment and a ``bytes.join`` per chunk, then a transport write.
No task runs and no per-message Python work is done per connection.

Whatever the connection's outbox holds goes first: the channel makes a member direct only while
its outbox is empty, and both paths number from the connection's one counter (``next_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tickcast.dialects.coinmetrics.wire import framing
from tickcast.server.node import Node
from tickcast.server.seam import ProtocolSink


class Numbered(Protocol):
    """The connection side of the sink: its counter and what was written for it."""

    next_id: int
    messages: int
    bytes: int

    @property
    def closing(self) -> bool: ...


_last: list[tuple[bytes, framing.SharedBatch]] = []
"""The last shared batch parsed, with its bytes (compared by identity: the channel hands the
same object to every member in one flush, and the reference keeps its id from being reused)."""


def parsed(data: bytes) -> framing.SharedBatch:
    if _last and _last[0][0] is data:
        return _last[0][1]
    batch = framing.SharedBatch(data)
    _last[:] = [(data, batch)]
    return batch


class CmSink:
    """:class:`~tickcast.delivery.channel.Sink` of one Coin Metrics connection."""

    __slots__ = ("_connection", "_sink", "_unmetered")

    framing = staticmethod(framing.shared_batch)

    def __init__(self, sink: ProtocolSink, connection: Numbered) -> None:
        self._sink = sink
        self._connection = connection
        self._unmetered = (0, 0)
        """Messages and bytes written, not yet metered (``meter``)."""

    @property
    def raw_backlog(self) -> Callable[[], int]:
        return self._sink.raw_backlog

    def write(self, data: bytes) -> None:
        connection = self._connection
        if connection.closing or not self._sink.open:
            return  # nothing after a close was asked for (the outbox holds the last words)
        batch = parsed(data)
        chunks, connection.next_id, nbytes = batch.render(connection.next_id)
        write = self._sink.write
        for chunk in chunks:
            write(chunk)
        messages = batch.messages
        connection.messages += messages
        connection.bytes += nbytes
        unmetered = self._unmetered
        self._unmetered = (unmetered[0] + messages, unmetered[1] + nbytes)

    def meter(self, node: Node, key_id: str) -> None:
        """Meter what was written since the last call (the channel settles in arrears)."""
        messages, nbytes = self._unmetered
        if messages:
            self._unmetered = (0, 0)
            node.delivered(key_id, messages, nbytes)

    def backlog(self) -> int:
        return self._sink.backlog()
