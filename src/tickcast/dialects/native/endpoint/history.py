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
* Every other STATE stream starting at T starts with a Snapshot of its state as of T: the last
  stored event per key at or before T (``History.latest``: one per metric, the open orders, one
  position per party; a quotes or ticker stream's last event) at the position of the stream's
  last stored event at or before T; then replays from the next seq. Nothing stored at or before
  T: the live snapshot.
* Views: a ``party`` view gets that party's events only, a ``depth`` view of a book the changes
  of its top levels with the view's checksum, exactly as live (``history_frames.py``);
  each Update's ``prev`` is the seq of the last frame this subscription got. A depth view's
  hand-over to live is the hub's reset Snapshot of the live book at that depth (what any
  resume of a depth view gets); a party view's first frame from the hub continues its chain.
* With history off, time travel is refused per stream with ``Error {code:
  "history_unavailable"}``. An EVENT stream with nothing stored after T starts live.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from tickcast.dialects.native.wire import protocol as native
from tickcast.history.service import READ_FLUSH_TIMEOUT, History
from tickcast.model import StreamKey, StreamKind, StreamPosition
from tickcast.model.streams import StreamClass, View
from tickcast.server.history_frames import ViewFrames, bus_misses
from tickcast.session import Attach

if TYPE_CHECKING:
    from tickcast.dialects.native.endpoint.connection import NativeConnection

CHUNK = 1_000
Request = tuple[StreamKey, View, StreamPosition | native.TimeStart | None]


def _replayable(key: StreamKey, view: View) -> bool:
    """Whether a deep resume can be served from the store: EVENT streams (a party view too: the
    hub would answer a Gap) and books without a depth view (time travel serves every stream and
    view; other STATE streams and depth views resume with the hub's reset snapshot)."""
    full_book = key.kind is StreamKind.BOOK and view.depth is None
    return key.stream_class is StreamClass.EVENT or full_book


async def wants_history(connection: NativeConnection, attach: Attach) -> bool:
    """Whether a stream of ``attach`` starts at a time, or resumes beyond the bus's history
    from a position the store holds."""
    history = connection.node.history
    for key, view, resume in attach.streams:
        if isinstance(resume, native.TimeStart):
            return True
        if history is not None and resume is not None and _replayable(key, view):
            if await bus_misses(connection.node.bus, str(key), resume):
                await history.flushed(READ_FLUSH_TIMEOUT)
                if await history.since(str(key), resume.epoch, resume.seq, limit=1):
                    return True
    return False


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
    for key, _, resume in attach.streams:
        if not isinstance(resume, native.TimeStart) or history is None:
            continue
        if key.stream_class is StreamClass.EVENT:
            first = await history.range(str(key), resume.time_ns, None, limit=1)
            if first:
                starts[str(key)] = StreamPosition(first[0].seq - 1, first[0].epoch)
    return starts


class _Refused(Exception):
    """A stream of the Subscribe was refused (its Error frame is queued)."""


async def _one(
    connection: NativeConnection, id: int | str, request: Request, start: StreamPosition | None
) -> None:
    key, view, resume = request
    stream, history = str(key), connection.node.history
    node = connection.node
    frames = ViewFrames(node.native, node.catalog, key, view, 0)
    max_replay: int | None = None  # the store replay kept within the plan's history_depth
    if isinstance(resume, native.TimeStart):
        if history is None:
            _refuse(connection, id, stream, "history_unavailable", f"{stream}: no history store")
            return
        try:
            resume = await _travel(connection, id, history, frames, key, resume.time_ns, start)
        except _Refused:
            return
    elif resume is not None and history is not None and _replayable(key, view):
        if await bus_misses(connection.node.bus, stream, resume):
            resume, max_replay = await _deep_resume(connection, history, frames, key, resume)
    await _join(connection, key, view, resume, frames.prev, max_replay)


async def _travel(
    connection: NativeConnection,
    id: int | str,
    history: History,
    frames: ViewFrames,
    key: StreamKey,
    t: int,
    start: StreamPosition | None,
) -> StreamPosition | None:
    """Start ``key`` at time ``t``; the position the store replay reached (None: live)."""
    if key.kind is StreamKind.BOOK:
        return await _book_start(connection, id, history, frames, key, t)
    if key.stream_class is StreamClass.STATE:
        return await _state_start(connection, id, history, frames, key, t)
    if start is None:
        return None  # nothing stored at or after T: live from now
    await _within_depth(connection, id, history, str(key), start)
    frames.prev = start.seq
    return await _replay(connection, history, frames, str(key), start)


async def _within_depth(
    connection: NativeConnection, id: int | str, history: History, stream: str, at: StreamPosition
) -> None:
    """Refuse (``_Refused``) a time travel whose replay from ``at`` to the live position would
    exceed the plan's ``history_depth`` events, as a resume that deep would be cut."""
    depth = connection.principal.plan.history_depth
    live = await connection.node.bus.position(stream)
    count = await history.events_after(stream, at, live)
    if count > depth:
        message = f"{stream}: {count} events from then to now exceed history_depth {depth}"
        _refuse(connection, id, stream, "history_depth", message)
        raise _Refused


async def _deep_resume(
    connection: NativeConnection,
    history: History,
    frames: ViewFrames,
    key: StreamKey,
    at: StreamPosition,
) -> tuple[StreamPosition, int | None]:
    """Replay after ``at`` from the store, at most the plan's ``history_depth`` events in all,
    cut as the hub cuts an in-memory resume: an EVENT stream gets a Gap (``history``) for the
    older events of ``at``'s epoch, then the newest ones; a book (or a resume whose budget the
    live epoch alone spends) is left to the hub with that cap (a reset snapshot, or the epoch
    Gap). The position to join from, and the hub's replay cap."""
    stream, depth = str(key), connection.principal.plan.history_depth
    live = await connection.node.bus.position(stream)
    excess = await history.events_after(stream, at, live) - depth
    if excess > 0:
        spans = {span.epoch: span.last_seq for span in await history.epochs(stream)}
        end = live.seq if at.epoch == live.epoch else spans.get(at.epoch, at.seq)
        if key.stream_class is StreamClass.STATE or at.seq + excess >= end:
            return at, depth
        gap_to = at.seq + excess
        gap = connection.node.native.gap_frame(stream, at.epoch, at.seq + 1, gap_to, "history")
        connection.outbox.push_control(gap)
        at = StreamPosition(gap_to, at.epoch)
    frames.prev = at.seq
    return await _replay(connection, history, frames, stream, at), None


def _refuse(
    connection: NativeConnection, id: int | str, stream: str, code: str, message: str
) -> None:
    """Refuse one stream of the Subscribe: it is no longer counted as subscribed."""
    connection.session.subscriptions.pop(stream, None)
    connection.outbox.push_control(native.error_frame(id, code, message))
    connection.wake()


async def _book_start(
    connection: NativeConnection,
    id: int | str,
    history: History,
    frames: ViewFrames,
    key: StreamKey,
    t: int,
) -> StreamPosition | None:
    """Send the book as of ``t`` (the view's depth of it), replay from there; the position
    replay reached."""
    state = await history.book_at(str(key), t)
    if state is None:
        return None  # nothing stored at or before T: a live snapshot
    position = StreamPosition(state.seq, state.epoch)
    await _within_depth(connection, id, history, str(key), position)
    connection.outbox.push_control(frames.book_snapshot(state))
    connection.wake()  # the Snapshot goes out before the replay's first read
    return await _replay(connection, history, frames, str(key), position)


async def _state_start(
    connection: NativeConnection,
    id: int | str,
    history: History,
    frames: ViewFrames,
    key: StreamKey,
    t: int,
) -> StreamPosition | None:
    """Send the state of a STATE stream as of ``t`` (its last stored event per key at or before
    it, at the position of its last stored event at or before it), replay from there; the
    position replay reached."""
    stream = str(key)
    newest = await history.range(stream, None, t, limit=1, descending=True)
    if not newest:
        return None  # nothing stored at or before T: a live snapshot
    position = StreamPosition(newest[0].seq, newest[0].epoch)
    await _within_depth(connection, id, history, stream, position)
    state = await history.latest(stream, t)
    connection.outbox.push_control(frames.snapshot(position, [row.event for row in state]))
    connection.wake()
    return await _replay(connection, history, frames, stream, position)


async def _replay(
    connection: NativeConnection,
    history: History,
    frames: ViewFrames,
    stream: str,
    at: StreamPosition,
) -> StreamPosition:
    """Replay stored events after ``at`` until the bus holds the rest; the last position
    replayed (``frames.prev``: the last one sent)."""
    flushed = False
    while await bus_misses(connection.node.bus, stream, at):
        rows = await history.since(stream, at.epoch, at.seq, limit=CHUNK)
        if not rows:
            if flushed:
                break  # the store has nothing more: the hub reports what is missing
            # events not yet written may bridge the two
            await history.flushed(READ_FLUSH_TIMEOUT)
            flushed = True
            continue
        for frame in frames.frames([row.envelope() for row in rows]):
            connection.outbox.push_control(frame)
        connection.wake()
        at = StreamPosition(rows[-1].seq, at.epoch)
        await _paced(connection)
        if connection._closed:
            break
    return at


async def _paced(connection: NativeConnection) -> None:
    """Wait until the outbox is below half its budget (the client reads at its own pace)."""
    outbox = connection.outbox
    # polled: the outbox is drained by two writers (task or transport callbacks), neither of
    # which signals an event; 5 ms per half budget (512 kB by default) is negligible
    while outbox.pending_bytes > outbox.max_bytes // 2 and not connection._closed:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def _join(
    connection: NativeConnection,
    key: StreamKey,
    view: View,
    resume: StreamPosition | None,
    prev: int,
    max_replay: int | None,
) -> None:
    """Join the hub from ``resume`` (None: as a new subscriber); the hub replays the rest from
    the bus and goes live. A Subscribed frame is not sent again. ``prev``: the seq of the last
    frame sent; a filtered view may have skipped events up to ``resume``, so the hub's first
    Update continues from ``prev`` instead (as ``Joiner.finish_join`` does after its replays).
    ``max_replay``: the hub's replay cap (None once the store replay kept to the plan's)."""
    hub, encoder = connection.node.hub, connection.node.native
    joined = await hub.attach(connection, encoder, key, view, resume, max_replay=max_replay)
    if connection._closed:
        hub.detach(connection, joined.stream)
        return
    if resume is not None and prev != resume.seq:
        if joined.frames and joined.prev is not None:  # replayed Updates: the first continues
            first, *rest = joined.frames
            joined = replace(joined, frames=(encoder.with_prev(first, prev), *rest))
        elif not joined.frames:  # nothing replayed: the first live frame continues
            joined = replace(joined, prev=prev)
    hub.go_live(connection, joined, encoder)
