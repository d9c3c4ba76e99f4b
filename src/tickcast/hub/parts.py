"""The hub's vocabulary: what it talks to (encoders, subscribers) and what it keeps per stream
(groups of members, joins). Plain data; the logic is in ``core`` (the façade and the live path),
``channels``, ``joining``, ``frames`` and ``paging``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tickcast.book import DepthView
from tickcast.delivery.channel import Channel, Sink
from tickcast.delivery.outbox import Outbox
from tickcast.model import (
    BookSnapshot,
    Envelope,
    Event,
    Order,
    Position,
    StreamKey,
    StreamKind,
    StreamPosition,
    Trade,
    View,
)

SETTLE_INTERVAL_S = 1.0
"""How often frames written by shared batches are reported to their subscribers (metering)."""


class Encoder(Protocol):
    name: str

    def update_frame(
        self,
        stream: str,
        seq: int,
        event: Event,
        checksum: int | None,
        prev: int | None = None,
        published_ns: int = 0,
    ) -> bytes:
        """``published_ns``: the envelope's publish time (0: unknown, e.g. stored history); a
        dialect may show it (the native one does with ``publish_stamps``) or ignore it."""
        ...

    def snapshot_frame(
        self,
        stream: str,
        kind: StreamKind,
        position: StreamPosition,
        events: Sequence[Event],
        *,
        checksum: int | None,
        reset: bool,
    ) -> bytes: ...

    def gap_frame(
        self, stream: str, epoch: str, from_seq: int, to_seq: int, reason: str
    ) -> bytes: ...


class RunEncoder(Encoder, Protocol):
    """An encoder that renders a run of consecutive events of one stream in one bus batch as one
    frame (Coin Metrics: the metrics of one asset published together are one message)."""

    def run_frame(self, stream: str, seq: int, events: Sequence[Event]) -> bytes: ...


class Subscriber(Protocol):
    outbox: Outbox

    def wake(self) -> None:
        """Frames were queued: schedule a write."""

    def overflow(self) -> None:
        """A frame was refused by the outbox (OVERFLOW verdict). Under the DISCONNECT policy the
        subscriber closes with its dialect's slow-consumer error; under RESYNC it only counts."""


class SharedSubscriber(Subscriber, Protocol):
    """A subscriber that can take shared batches (docs/performance.md, "Writer API")."""

    def direct_sink(self) -> Sink | None:
        """The transport to write shared batches to, or None (then the outbox path is used)."""

    def delivered(self, messages: int, nbytes: int) -> None:
        """Frames written for it by its channel, reported in arrears (see ``Hub.settle``)."""


@dataclass(slots=True)
class Shared:
    subscriber: SharedSubscriber
    sink: Sink
    live: frozenset[tuple[str, str, View]] = frozenset()
    """The idents of its live groups; replaced, never mutated, so that the members of one
    channel share one set (the channel key's)."""
    channel: Channel | None = None


@dataclass(slots=True)
class Member:
    subscriber: Subscriber
    live: bool = False
    pending: list[tuple[int, int, bytes]] | None = None
    """Live frames that arrived while joining, as (seq, prev, frame) (at most the outbox budget
    during a replay); None while there are none (a live member keeps no list)."""
    pending_bytes: int = 0
    replay: deque[Envelope] | None = None
    """Envelopes still to replay, paged into the outbox as the client drains it."""
    last_seq: int = 0
    """The last seq the join covers: pending frames up to it are not sent."""
    prev: int | None = None
    """During a replay: the ``prev`` of the next replayed Update (docs/protocol.md)."""
    replayed: bool = False
    """Whether a replayed Update was sent: the live frames must continue its ``prev`` chain."""


@dataclass(slots=True)
class Group:
    key: StreamKey
    encoder: Encoder
    view: View
    depth_view: DepthView | None
    members: dict[int, Member] = field(default_factory=dict)
    outbox_members: dict[int, Member] = field(default_factory=dict)
    """Members served frame by frame: every non-shared member, and shared ones while joining."""
    channels: dict[Hashable, Channel] = field(default_factory=dict)
    """The channels whose subscription set contains this group."""
    run: list[Envelope] | None = None
    """For a ``RunEncoder``: the envelopes of the current run (else None)."""
    prev: int = 0
    """The seq of the last frame this group emitted: the ``prev`` of its next Update."""
    ident: tuple[str, str, View] = field(init=False)
    """``(stream, encoder name, view)``: one tuple, shared by every member's live set."""

    def __post_init__(self) -> None:
        self.ident = (str(self.key), self.encoder.name, self.view)


@dataclass(frozen=True, slots=True)
class Joined:
    """What ``attach`` prepared for one stream: its position and the frames to send first."""

    stream: str
    position: StreamPosition
    frames: tuple[bytes, ...]
    last_seq: int
    replay: tuple[Envelope, ...] = ()
    """With ``page_replay``: the envelopes to replay after ``frames``, encoded page by page."""
    prev: int | None = None
    """The ``prev`` chain of a replay: with ``replay``, where it starts; else the seq of the
    last replayed Update of ``frames`` (None if there is none)."""


def party_matches(event: Event, party: str) -> bool:
    match event:
        case Trade():
            return party in (event.buyer, event.seller)
        case Order() | Position():
            return event.party == party
    return True


def replaces_state(envelopes: Sequence[Envelope]) -> bool:
    """Whether a replay range holds a full book snapshot (then a reset snapshot is sent)."""
    return any(isinstance(envelope.event, BookSnapshot) for envelope in envelopes)


def call_soon(callback: Callable[[], None]) -> None:
    """Run ``callback`` in the next loop pass; at once when no loop is running (sync tests)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_soon(callback)


def call_later(delay: float, callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` after ``delay`` seconds; returns its cancel. At once when no loop is
    running (sync tests), like :func:`call_soon`."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return _nothing
    return loop.call_later(delay, callback).cancel


def _nothing() -> None:
    return None
