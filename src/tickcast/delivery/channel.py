"""Shared delivery: one batch of bytes per subscription set per loop pass. Pure.

A :class:`Channel` stands for one *subscription set* (e.g. "native frames of trades:X and
book:Y at full view"). The hub appends every frame of those streams to the channel once
(``add``); once per loop pass it calls ``flush``, which frames the pending payloads into ONE
``bytes`` object and hands that same object to the ``write`` of every *direct* member's
:class:`Sink`: no per-client copy and no per-client Python work per message, one write per client
per pass.

A member is direct only while nothing of its own is queued. A member whose sink holds more than
``backlog_limit`` bytes in user space (a slow reader) is *demoted*: from then on the channel
pushes each frame into the member's own :class:`~tickcast.delivery.outbox.Outbox` (with its
DESIGN §6 overflow policy) and wakes it; its writer drains the outbox and calls ``promote`` when
it is empty again. New members start demoted, so whatever the hub queued for them on joining
(Subscribed, snapshot, replay) goes out first.

Memory per direct member: nothing but its sink's own buffer, which is at most
``backlog_limit`` plus one batch; a demoted member is bounded by its outbox budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from itertools import repeat
from operator import call
from typing import Protocol

from tickcast.delivery.outbox import Outbox, Verdict

Framing = Callable[[list[bytes]], bytes]
"""Turns payloads into the bytes written on the wire (e.g. one WebSocket text frame each)."""

BACKLOG_LIMIT = 262_144
"""Bytes a direct member's sink may hold unsent before the member is demoted to its outbox."""


class Sink(Protocol):
    """A connection's transport, as the channel sees it.

    A sink may also offer ``raw_write`` and ``raw_backlog``: its transport's own bound
    ``write``/``get_write_buffer_size``, which the channel then calls directly (the owner must
    leave the channel before it sends its close frame)."""

    def framing(self, payloads: list[bytes]) -> bytes:
        """How payloads become wire bytes for this transport. Implement it as a
        ``staticmethod`` (the channel key includes it: sinks sharing it share channels)."""

    def write(self, data: bytes) -> None:
        """Hand ``data`` to the transport now (never blocks; a closed sink drops it)."""

    def backlog(self) -> int:
        """Bytes accepted by ``write`` but not yet taken by the kernel."""


class Member(Protocol):
    """A subscriber that can share batches (the hub's ``Subscriber`` plus ``delivered``)."""

    outbox: Outbox

    def wake(self) -> None: ...

    def overflow(self) -> None: ...

    def delivered(self, messages: int, nbytes: int) -> None:
        """Frames the channel wrote directly for this member (called in arrears, see
        ``Channel.settle``)."""


class _Direct:
    __slots__ = ("backlog", "bytes_mark", "frames_mark", "member", "write")

    def __init__(self, member: Member, sink: Sink, frames_mark: int, bytes_mark: int) -> None:
        self.member = member
        # a sink may offer its transport's own bound methods (no Python frame per write)
        self.write: Callable[[bytes], None] = getattr(sink, "raw_write", sink.write)
        self.backlog: Callable[[], int] = getattr(sink, "raw_backlog", sink.backlog)
        self.frames_mark = frames_mark
        self.bytes_mark = bytes_mark


class Channel:
    """The members of one subscription set and the frames pending for them (see module doc)."""

    __slots__ = (
        "_backlogs",
        "_bytes",
        "_frames",
        "_writers",
        "backlog_limit",
        "demoted",
        "direct",
        "framing",
        "key",
        "on_demote",
        "pending",
    )

    def __init__(
        self,
        key: Hashable,
        framing: Framing,
        *,
        backlog_limit: int = BACKLOG_LIMIT,
        on_demote: Callable[[int], None] | None = None,
    ) -> None:
        self.key = key
        self.framing = framing
        self.backlog_limit = backlog_limit
        self.on_demote = on_demote
        """Called with a member's id when the channel demotes it because its sink is full."""
        self.pending: list[tuple[str, int, bool, bytes]] = []
        """(stream, seq, state stream?, payload) added since the last flush."""
        self.direct: dict[int, _Direct] = {}
        self.demoted: dict[int, Member] = {}
        self._frames = 0
        """Frames written to every direct member so far (cumulative, for ``settle``)."""
        self._bytes = 0
        self._writers: list[Callable[[bytes], None]] | None = None
        """The direct members' ``write`` in order (rebuilt after a membership change)."""
        self._backlogs: list[Callable[[], int]] = []

    def __len__(self) -> int:
        return len(self.direct) + len(self.demoted)

    def __contains__(self, ident: object) -> bool:
        return ident in self.direct or ident in self.demoted

    def add(self, stream: str, seq: int, state: bool, payload: bytes) -> bool:
        """Queue a payload for every member; True if the channel was idle (schedule a flush)."""
        self.pending.append((stream, seq, state, payload))
        return len(self.pending) == 1

    def join(self, member: Member) -> None:
        """Add a member, demoted (it drains its outbox first, then ``promote``)."""
        self.demoted[id(member)] = member

    def leave(self, member: Member) -> None:
        ident = id(member)
        direct = self.direct.pop(ident, None)
        if direct is not None:
            self._writers = None
            self._settle(direct)
        self.demoted.pop(ident, None)

    def promote(self, member: Member, sink: Sink) -> bool:
        """Make a demoted member direct if its outbox is empty and its sink has room."""
        ident = id(member)
        if ident not in self.demoted or len(member.outbox) or member.outbox.overflowed:
            return False
        if sink.backlog() > self.backlog_limit // 2:
            return False
        del self.demoted[ident]
        self.direct[ident] = _Direct(member, sink, self._frames, self._bytes)
        self._writers = None
        return True

    def is_direct(self, member: Member) -> bool:
        return id(member) in self.direct

    def flush(self) -> int:
        """Write the pending frames: one shared batch to direct members, per-frame outbox
        pushes to demoted ones. Returns the number of direct writes."""
        pending = self.pending
        if not pending:
            return 0
        self.pending = []
        writes = 0
        if self.direct:
            batch = self.framing([entry[3] for entry in pending])
            writes = self._write_direct(batch)
            self._frames += len(pending)
            self._bytes += sum(len(entry[3]) for entry in pending)
        if self.demoted:
            entries = [(entry[0], entry[3]) for entry in pending]
            nbytes = sum(len(entry[3]) for entry in pending)
            for member in self.demoted.values():
                _push(member, pending, entries, nbytes)
        return writes

    def _write_direct(self, batch: bytes) -> int:
        """``batch`` to every direct member whose sink has room; the others are demoted.

        The common case (no sink over the limit) runs as two C-level loops over the members'
        bound transport methods (``map``), with no bytecode per member: like the C reference's
        ``writev`` loop, the per-client cost is the transport's own ``write``."""
        if self._writers is None:
            self._writers = [d.write for d in self.direct.values()]
            self._backlogs = [d.backlog for d in self.direct.values()]
        limit = self.backlog_limit
        try:
            over = any(map(limit.__lt__, map(call, self._backlogs)))
        except (OSError, RuntimeError):  # a transport closed under us: check one by one
            over = True
        if over:
            return self._write_checked(batch)
        members = iter(self._writers)
        failed = 0
        while True:
            try:
                deque(map(call, members, repeat(batch)), maxlen=0)
                break
            except (OSError, RuntimeError):  # that transport closed; go on with the next
                failed += 1
        return len(self._writers) - failed

    def _write_checked(self, batch: bytes) -> int:
        """The per-member loop: demote members whose sink holds more than the limit."""
        limit = self.backlog_limit
        full: list[int] = []
        for ident, direct in self.direct.items():
            try:
                if direct.backlog() <= limit:
                    direct.write(batch)
                    continue
            except (OSError, RuntimeError):  # the transport closed under us
                pass
            full.append(ident)
        for ident in full:
            self._demote(ident)
        return len(self.direct)

    def _demote(self, ident: int) -> None:
        direct = self.direct.pop(ident)
        self._writers = None
        # it did not get this pass's frames (they are pushed to its outbox by the caller)
        self._settle(direct)
        self.demoted[ident] = direct.member
        if self.on_demote is not None:
            self.on_demote(ident)

    def settle_member(self, member: Member) -> None:
        """Report to one direct member what was written for it since its last report (O(1):
        a member's ``info()`` must not settle the whole channel)."""
        direct = self.direct.get(id(member))
        if direct is not None:
            self._settle(direct)

    def settle(self) -> None:
        """Report to each direct member what was written for it since the last report."""
        for direct in self.direct.values():
            self._settle(direct)

    def _settle(self, direct: _Direct) -> None:
        frames = self._frames - direct.frames_mark
        if frames:
            direct.member.delivered(frames, self._bytes - direct.bytes_mark)
            direct.frames_mark = self._frames
            direct.bytes_mark = self._bytes


def _push(
    member: Member,
    pending: list[tuple[str, int, bool, bytes]],
    entries: list[tuple[str, bytes]],
    nbytes: int,
) -> None:
    """A demoted member's share of a flush: all at once when nothing can overflow (the usual
    case: one C-level extend), else frame by frame with the outbox's verdicts."""
    outbox = member.outbox
    if not outbox.extend(entries, nbytes):
        for stream, seq, state, payload in pending:
            if outbox.push(payload, stream=stream, seq=seq, state=state) is Verdict.OVERFLOW:
                member.overflow()
    member.wake()


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame carrying ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65_536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


_SHORT_HEADERS = [bytes((0x81, n)) for n in range(126)]


def websocket_text_frames(payloads: list[bytes]) -> bytes:
    """One buffer holding every payload as its own WebSocket text frame (server side: unmasked,
    so the bytes are the same for every client)."""
    parts: list[bytes] = []
    append = parts.append
    for payload in payloads:
        length = len(payload)
        if length < 126:
            append(_SHORT_HEADERS[length])
        elif length < 65_536:
            append(b"\x81\x7e" + length.to_bytes(2, "big"))
        else:
            append(b"\x81\x7f" + length.to_bytes(8, "big"))
        append(payload)
    return b"".join(parts)
