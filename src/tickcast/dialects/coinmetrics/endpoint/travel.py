"""Coin Metrics stream ``start_time`` (a tickcast extension; issue 17): every message the stream
sent from ``start_time`` on, replayed from the durable history store, then real-time data, with
no gap and no duplicate.

Hook: ``CmConnection._join`` hands each stream here when the request has ``start_time``
(endpoints in ``streams.START_TIME_ENDPOINTS``) and the server keeps history. Rules:

* EVENT streams (trades, candles, liquidations): every stored event at or after ``start_time``,
  rendered as live rendered it (a candle is indexed by its start).
* STATE streams start with their state as of ``start_time``, the message a live ``backfill=latest``
  would have sent then: the book rebuilt from the store (cut to ``depth_limit``), the last quote,
  each metric's last value (index levels: the reference rate); then every stored update after it
  (a depth-limited book as the changes of its top levels, as live). Nothing stored at or before
  ``start_time``: the live backfill.
* The metrics of one asset and second are one message, as live sends the metrics published
  together.
* Replay goes ``CHUNK`` events at a time, each chunk queued once the outbox is below half its
  budget (the client's reading paces it); then the stream joins the hub at the last replayed
  position, and the hub sends what the bus holds after it and goes live.
* The plan's ``history_depth`` bounds it as it bounds native time travel: a stream whose replay
  would exceed it fails the connection (``forbidden``); a later ``start_time`` is accepted.
  Without a history store, ``start_time`` fails it (``bad_parameter``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tickcast.dialects.coinmetrics.wire.errors import bad_parameter, forbidden
from tickcast.dialects.coinmetrics.wire.streams import Subscription
from tickcast.history.service import READ_FLUSH_TIMEOUT, History
from tickcast.hub import Encoder
from tickcast.model import AssetMetric, Envelope, StreamClass, StreamKind, StreamPosition
from tickcast.server.history_frames import ViewFrames, bus_misses

if TYPE_CHECKING:
    from tickcast.dialects.coinmetrics.endpoint.ws import CmConnection

CHUNK = 1_000
SECOND_NS = 1_000_000_000


async def join_from(
    connection: CmConnection, encoder: Encoder, sub: Subscription, start_ns: int
) -> bool:
    """Replay ``sub`` from ``start_ns``, then join the hub; False if the connection failed."""
    node, key, stream = connection.node, sub.key, str(sub.key)
    history = node.history
    if history is None:
        await connection.fail(bad_parameter("start_time", "The server keeps no history."))
        return False
    await history.flushed(READ_FLUSH_TIMEOUT)
    frames = ViewFrames(encoder, node.catalog, key, sub.view, 0)
    at, first = await _start(history, frames, sub, start_ns)
    if at is not None:
        live = await node.bus.position(stream)
        count = await history.events_after(stream, at, live)
        depth = connection.principal.plan.history_depth
        if count > depth:
            message = f"start_time is {count} events back in '{stream}'; at most {depth}."
            await connection.fail(forbidden(message))
            return False
        if first:
            connection.outbox.push_control(first)
        at = await _replay(connection, history, frames, encoder, stream, at)
    # nothing stored (at None): a STATE stream gets the live snapshot, an EVENT stream none
    joined = await node.hub.attach(connection, encoder, key, sub.view, at, max_replay=None)
    node.hub.go_live(connection, joined, encoder)
    return True


async def _start(
    history: History, frames: ViewFrames, sub: Subscription, start_ns: int
) -> tuple[StreamPosition | None, bytes]:
    """The position the replay starts after, and the first message (a STATE stream's state as
    of ``start_ns``); ``(None, b"")`` when nothing is stored for it."""
    key, stream = sub.key, str(sub.key)
    if key.stream_class is StreamClass.EVENT:
        found = await history.range(stream, start_ns, None, limit=1)
        if not found:
            return None, b""
        return StreamPosition(found[0].seq - 1, found[0].epoch), b""
    if key.kind is StreamKind.BOOK:
        book = await history.book_at(stream, start_ns)
        if book is None:
            return None, b""
        return StreamPosition(book.seq, book.epoch), frames.book_snapshot(book)
    newest = await history.range(stream, None, start_ns, limit=1, descending=True)
    if not newest:
        return None, b""
    position = StreamPosition(newest[0].seq, newest[0].epoch)
    state = await history.latest(stream, start_ns)
    return position, frames.snapshot(position, [row.event for row in state])


async def _replay(
    connection: CmConnection,
    history: History,
    frames: ViewFrames,
    encoder: Encoder,
    stream: str,
    at: StreamPosition,
) -> StreamPosition:
    """Queue the stored events after ``at`` until the bus holds the rest; the last position."""
    flushed = False
    while await bus_misses(connection.node.bus, stream, at):
        rows = await history.since(stream, at.epoch, at.seq, limit=CHUNK)
        if not rows:
            if flushed:
                break  # nothing more stored: the hub sends what the bus holds
            await history.flushed(READ_FLUSH_TIMEOUT)
            flushed = True
            continue
        envelopes = [row.envelope() for row in rows]
        for frame in _frames(frames, encoder, stream, envelopes):
            if frame:
                connection.outbox.push_control(frame)
        connection.wake()
        at = StreamPosition(rows[-1].seq, at.epoch)
        await _paced(connection)
        if connection._closing:
            break
    return at


def _frames(
    frames: ViewFrames, encoder: Encoder, stream: str, envelopes: Sequence[Envelope]
) -> list[bytes]:
    """The messages of ``envelopes``: metrics of one second together (``run_frame``)."""
    run_frame = getattr(encoder, "run_frame", None)
    if run_frame is None or not envelopes or not isinstance(envelopes[0].event, AssetMetric):
        return frames.frames(envelopes)
    found: list[bytes] = []
    run: list[Envelope] = []
    for envelope in envelopes:
        if run and _second(run[-1]) != _second(envelope):
            found.append(run_frame(stream, run[-1].seq, [e.event for e in run]))
            run = []
        run.append(envelope)
    found.append(run_frame(stream, run[-1].seq, [e.event for e in run]))
    return found


def _second(envelope: Envelope) -> int:
    event = envelope.event
    return event.time_ns // SECOND_NS if isinstance(event, AssetMetric) else 0


async def _paced(connection: CmConnection) -> None:
    """Wait until the outbox is below half its budget (the client reads at its own pace)."""
    outbox = connection.outbox
    # polled, as native time travel: the writer signals nothing when it drains the outbox
    while outbox.pending_bytes > outbox.max_bytes // 2 and not connection._closing:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
