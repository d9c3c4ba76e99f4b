"""One outbox writer: drain a connection's outbox into its transport, for every dialect.

A connection (a :class:`Drained`) says how to take its next chunk of frames (a dialect may
rewrite them, e.g. Coin Metrics splices its ``cm_sequence_id`` in), what to do once a chunk went
out (count it; the native dialect also pages a replay and resyncs) and once the outbox is empty
(go back to the hub's shared channel). The writing itself is here, once, in two forms:

* :func:`write_now`, detached (the seam's ``ProtocolSink``: no task): a loop callback writes
  chunks while the transport's own backlog stays under :data:`WRITE_CHUNK`, and resumes from
  the sink's ``on_drain`` when it does not;
* :func:`write_forever`, the task-based form over any ASGI server: wait to be woken, write
  every chunk, set ``flushed``;
* :func:`chunks`, the pull form: an async iterator of the chunks, for a writer that ends with
  its stream (Vega's streams, whose chunked HTTP form is a streamed response body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from tickcast.delivery.outbox import Outbox
from tickcast.server.seam import ProtocolSink

WRITE_CHUNK = 65_536
"""Bytes taken from an outbox per write: a stalled connection holds at most its outbox budget
plus about two chunks in user space."""


class Drained(Protocol):
    """What the writer needs of a connection."""

    outbox: Outbox

    def wake(self) -> None:
        """Schedule another write (called back by the sink when its backlog drained)."""

    def take(self) -> list[bytes]:
        """The next chunk of frames to write, as they go on the wire (may be empty)."""

    def wrote(self, frames: list[bytes]) -> None:
        """A chunk was handed to the transport (count it)."""

    def emptied(self) -> None:
        """The outbox is empty (e.g. take shared batches again)."""


def write_now(
    connection: Drained, sink: ProtocolSink, framing: Callable[[list[bytes]], bytes]
) -> None:
    """Write ``connection``'s outbox to ``sink`` until it is empty or the transport's backlog
    exceeds a chunk (then ``sink.on_drain`` wakes the connection again)."""
    outbox = connection.outbox
    while len(outbox):
        if not sink.open:
            outbox.drain()
            return
        if sink.backlog() > WRITE_CHUNK:
            sink.on_drain = connection.wake  # resume_writing calls it
            return
        frames = connection.take()
        if frames:
            sink.write(framing(frames))
            connection.wrote(frames)
    sink.on_drain = None
    connection.emptied()


async def write_forever(
    connection: Drained,
    write: Callable[[list[bytes]], Awaitable[None]],
    wake: asyncio.Event,
    flushed: asyncio.Event,
) -> None:
    """The task-based writer: each time ``wake`` is set, write every chunk with ``write``, then
    call ``emptied`` and set ``flushed``. Runs until cancelled."""
    async for frames in chunks(connection, wake, _never, flushed=flushed):
        await write(frames)


def _never() -> bool:
    return False


async def chunks(
    connection: Drained,
    wake: asyncio.Event,
    ended: Callable[[], bool],
    *,
    flushed: asyncio.Event | None = None,
) -> AsyncIterator[list[bytes]]:
    """Each chunk of ``connection``'s outbox as it comes (``wrote`` once the consumer took it),
    until ``ended()`` holds with the outbox empty; ``flushed`` is set each time it is empty."""
    outbox = connection.outbox
    while True:
        await wake.wait()
        wake.clear()
        while len(outbox):
            frames = connection.take()
            if frames:
                yield frames
                connection.wrote(frames)
        connection.emptied()
        if flushed is not None:
            flushed.set()
        if ended():
            return
