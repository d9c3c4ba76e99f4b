"""Native time travel and deep resume served from the history store (issue 17).

Hook: ``NativeConnection._attach`` hands an Attach here when one of its streams starts at a
time (``from: {stream: {time}}``) or resumes from a position the bus no longer holds but the
store does. Rules:

* ``Subscribed`` is sent first, with each stream's live position, as for any Subscribe.
* A stream starting at T: EVENT streams replay from the first stored event at or after T; a
  ``book`` stream starts with a Snapshot of the book as of T (rebuilt from the store, checksum
  as live had it) and replays from the next seq. Frames are the ones live clients got (same
  encoder, original epoch and seq; each Update's ``prev`` is the seq of the frame before it, so
  the chain runs on from the Snapshot or the resume position into the hub's replay and live).
* Replay goes in chunks of ``CHUNK`` events, each pushed only once the connection's outbox is
  below half its budget: the client's reading paces it; memory stays bounded.
* When the bus's in-memory history holds the next seq, the stream joins the hub with a resume
  position (epoch, last replayed seq): the hub replays the rest and hands over to live with no
  gap and no duplicate (or, if the bus moved on meanwhile, an explicit Gap: never silent loss).
* A ``quotes`` or ``ticker`` stream starting at T starts with a Snapshot of its state as of T:
  its last stored event at or before T, with that event's epoch and seq; then replays from the
  next seq as above. Nothing stored at or before T: the live snapshot.
* Time travel on the other STATE streams (``metrics``, ``orders``, ``positions``: their state
  is a set, not one event), or with ``depth`` or ``party`` views, is refused per stream with
  ``Error {code: "history_unsupported"}``; with history off, ``"history_unavailable"``. An
  EVENT stream with nothing stored after T starts live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tickcast.dialects.native.wire import protocol as native
from tickcast.history.service import READ_FLUSH_TIMEOUT, History
from tickcast.model import BookDelta, BookSnapshot, Envelope, StreamKey, StreamKind, StreamPosition
from tickcast.model.events import TradesGap
from tickcast.model.streams import StreamClass, View
from tickcast.session import Attach

if TYPE_CHECKING:
    from tickcast.dialects.native.endpoint.connection import NativeConnection

CHUNK = 1_000
LAST_EVENT_STATE = (StreamKind.BOOK, StreamKind.QUOTES, StreamKind.TICKER)
"""STATE kinds whose state as of T can be rebuilt from the store (books from checkpoints)."""
Request = tuple[StreamKey, View, StreamPosition | native.TimeStart | None]


def _replayable(key: StreamKey, view: View, *, travel: bool = False) -> bool:
    """Whether the store can serve this stream: deep resume for EVENT streams and books; time
    travel (``travel``) also for the one-event STATE streams."""
    plain = view.depth is None and view.party is None
    states = LAST_EVENT_STATE if travel else (StreamKind.BOOK,)
    return plain and (key.stream_class is StreamClass.EVENT or key.kind in states)


async def wants_history(connection: NativeConnection, attach: Attach) -> bool:
    """Whether a stream of ``attach`` starts at a time, or resumes beyond the bus's history
    from a position the store holds."""
    history = connection.node.history
    for key, view, resume in attach.streams:
        if isinstance(resume, native.TimeStart):
            return True
        if history is not None and resume is not None and _replayable(key, view):
            if await _bus_misses(connection, str(key), resume):
                await history.flushed(READ_FLUSH_TIMEOUT)
                if await history.since(str(key), resume.epoch, resume.seq, limit=1):
                    return True
    return False


async def _bus_misses(connection: NativeConnection, stream: str, at: StreamPosition) -> bool:
    """Whether the bus cannot replay from ``at.seq + 1`` of ``at.epoch``."""
    bus = connection.node.bus
    position = await bus.position(stream)
    if position.epoch != at.epoch or at.seq >= position.seq:
        return position.epoch != at.epoch
    held = await bus.history(stream)
    return not held or held[0].seq > at.seq + 1


async def attach_with_history(connection: NativeConnection, attach: Attach) -> None:
    node = connection.node
    if node.history is not None:
        await node.history.flushed(
            READ_FLUSH_TIMEOUT
        )  # everything published before the Subscribe is stored
    starts = await _event_starts(connection, attach)
    positions = [
        (str(key), starts.get(str(key)) or await node.bus.position(str(key)))
        for key, _, _ in attach.streams
    ]
    connection.outbox.push_control(native.subscribed_frame(attach.id, positions))
    connection.wake()
    for request in attach.streams:
        if connection._closed:
            return
        await _one(connection, attach.id, request, starts.get(str(request[0])))


async def _event_starts(connection: NativeConnection, attach: Attach) -> dict[str, StreamPosition]:
    """Per EVENT stream starting at a time: the position just before its first stored event at
    or after that time (what ``Subscribed`` reports, so a client expects that seq next)."""
    history, starts = connection.node.history, {}
    for key, view, resume in attach.streams:
        if not isinstance(resume, native.TimeStart) or history is None:
            continue
        if key.stream_class is StreamClass.EVENT and _replayable(key, view):
            first = await history.range(str(key), resume.time_ns, None, limit=1)
            if first:
                starts[str(key)] = StreamPosition(first[0].seq - 1, first[0].epoch)
    return starts


async def _one(
    connection: NativeConnection, id: int | str, request: Request, start: StreamPosition | None
) -> None:
    key, view, resume = request
    stream, history = str(key), connection.node.history
    if isinstance(resume, native.TimeStart):
        if history is None:
            _refuse(connection, id, stream, "history_unavailable", f"{stream}: no history store")
            return
        if not _replayable(key, view, travel=True):
            message = f"{stream}: time travel is for event streams, books, quotes and ticker"
            _refuse(connection, id, stream, "history_unsupported", message)
            return
        if key.kind is StreamKind.BOOK:
            resume = await _book_start(connection, history, key, resume.time_ns)
        elif key.stream_class is StreamClass.STATE:
            resume = await _state_start(connection, history, key, resume.time_ns)
        elif start is not None:
            resume = await _replay(connection, history, stream, start)
        else:
            resume = None  # nothing stored at or after T: live from now
    elif resume is not None and history is not None and _replayable(key, view):
        if await _bus_misses(connection, stream, resume):
            resume = await _replay(connection, history, stream, resume)
    await _join(connection, key, view, resume)


def _refuse(
    connection: NativeConnection, id: int | str, stream: str, code: str, message: str
) -> None:
    """Refuse one stream of the Subscribe: it is no longer counted as subscribed."""
    connection.session.subscriptions.pop(stream, None)
    connection.outbox.push_control(native.error_frame(id, code, message))
    connection.wake()


async def _book_start(
    connection: NativeConnection, history: History, key: StreamKey, time_ns: int
) -> StreamPosition | None:
    """Send the book as of ``time_ns``, replay from there; the position replay reached."""
    stream = str(key)
    state = await history.book_at(stream, time_ns)
    if state is None:
        return None  # nothing stored at or before T: a live snapshot
    event = BookSnapshot(key.subject, state.bids, state.asks, 0)
    position = StreamPosition(state.seq, state.epoch)
    frame = connection.node.native.snapshot_frame(
        stream, key.kind, position, (event,), checksum=state.checksum, reset=False
    )
    connection.outbox.push_control(frame)
    return await _replay(connection, history, stream, position)


async def _state_start(
    connection: NativeConnection, history: History, key: StreamKey, time_ns: int
) -> StreamPosition | None:
    """Send the state of a one-event STATE stream as of ``time_ns`` (its last stored event at
    or before it, original epoch and seq), replay from there; the position replay reached."""
    stream = str(key)
    rows = await history.range(stream, None, time_ns, limit=1, descending=True)
    if not rows:
        return None  # nothing stored at or before T: a live snapshot
    position = StreamPosition(rows[0].seq, rows[0].epoch)
    frame = connection.node.native.snapshot_frame(
        stream, key.kind, position, (rows[0].event,), checksum=None, reset=False
    )
    connection.outbox.push_control(frame)
    return await _replay(connection, history, stream, position)


async def _replay(
    connection: NativeConnection, history: History, stream: str, at: StreamPosition
) -> StreamPosition:
    """Replay stored events after ``at`` until the bus holds the rest; the last position sent."""
    flushed = False
    while await _bus_misses(connection, stream, at):
        rows = await history.since(stream, at.epoch, at.seq, limit=CHUNK)
        if not rows:
            if flushed:
                break  # the store has nothing more: the hub reports what is missing
            # events not yet written may bridge the two
            await history.flushed(READ_FLUSH_TIMEOUT)
            flushed = True
            continue
        frames = _frames(connection, [row.envelope() for row in rows], at.seq)
        for frame in frames:
            connection.outbox.push_control(frame)
        connection.wake()
        at = StreamPosition(rows[-1].seq, at.epoch)
        await _paced(connection)
        if connection._closed:
            break
    return at


def _frames(connection: NativeConnection, envelopes: Sequence[Envelope], prev: int) -> list[bytes]:
    """The frames a live subscriber of the full stream got for these envelopes; each Update's
    ``prev`` is the seq of the frame before it (``prev`` for the first: the last one sent)."""
    encoder, frames = connection.node.native, []
    for envelope in envelopes:
        event, last, prev = envelope.event, prev, envelope.seq
        if isinstance(event, BookSnapshot):
            frames.append(
                encoder.snapshot_frame(
                    envelope.stream, StreamKind.BOOK, envelope.position,
                    (BookSnapshot(event.market, event.bids, event.asks, 0),),
                    checksum=event.checksum, reset=True,
                )
            )  # fmt: skip
            continue
        if isinstance(event, TradesGap):  # issue 16 (conn2): as live, a Gap of its one seq
            seq = envelope.seq
            frames.append(encoder.gap_frame(envelope.stream, envelope.epoch, seq, seq, "venue"))
            continue
        checksum = event.checksum if isinstance(event, BookDelta) else None
        frames.append(encoder.update_frame(envelope.stream, envelope.seq, event, checksum, last))
    return frames


async def _paced(connection: NativeConnection) -> None:
    """Wait until the outbox is below half its budget (the client reads at its own pace)."""
    outbox = connection.outbox
    # polled: the outbox is drained by two writers (task or transport callbacks), neither of
    # which signals an event; 5 ms per half budget (512 kB by default) is negligible
    while outbox.pending_bytes > outbox.max_bytes // 2 and not connection._closed:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def _join(
    connection: NativeConnection, key: StreamKey, view: View, resume: StreamPosition | None
) -> None:
    """Join the hub from ``resume`` (None: as a new subscriber); the hub replays the rest from
    the bus and goes live. A Subscribed frame is not sent again."""
    hub, encoder = connection.node.hub, connection.node.native
    joined = await hub.attach(connection, encoder, key, view, resume, max_replay=None)
    if connection._closed:
        hub.detach(connection, joined.stream)
        return
    hub.go_live(connection, joined, encoder)
