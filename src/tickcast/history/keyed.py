"""Keyed STATE streams at any instant (sans-I/O): the last event per key at or before T.

A ``metrics:`` stream's state is one value per metric, an ``orders`` stream's the open orders by
id, a ``positions`` stream's one position per party (``state/keeper.py``). Rules:

* ``key_of(event)``: the metric of an ``AssetMetric``, the id of an ``Order``, the party of a
  ``Position``; None for every other event (those streams are not keyed).
* An ``Order`` with a final status (filled, cancelled, rejected) *ends* its key: the live keeper
  drops it, and so does the state here.
* The state as of T is, per key, its newest event at or before T of the epoch of the stream's
  newest event at or before T (a new epoch starts empty, as live), keys ended by then left out,
  listed in the order the live keeper lists them (a dict folded in seq order: a key keeps its
  place when updated, an ended key re-added goes last). It equals the keeper's snapshot after
  that newest event.
* Checkpoints (as for books): while a stream's state is known (from seq 1 of an epoch; a skipped
  seq makes it unknown for the rest of the epoch: a keyed stream has no snapshot event to start
  again from) the full state after a seq is written every ``every_events`` events and whenever
  the event time crossed an ``every_ns`` boundary. A reader folds the rows after the newest
  checkpoint of that epoch at or before T (or from the epoch's start when there is none), so a
  state as of T costs one checkpoint plus at most about ``every_events`` rows.
* A checkpoint's data is JSON ``[[seq, time_ns, recv_ns, payload], ...]`` in the state's order,
  ``payload`` the row's bus-codec JSON as a string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from tickcast.bus.codec import decode_event
from tickcast.history.books import Checkpoint
from tickcast.history.rows import Row, kind_of
from tickcast.model import AssetMetric, Event, Order, OrderStatus, Position, StreamKind

KEYED_KINDS = frozenset(
    {StreamKind.METRICS.value, StreamKind.ORDERS.value, StreamKind.POSITIONS.value}
)
"""Stream kinds whose state is a set of events, one per key."""
LAST_EVENT_KINDS = frozenset({StreamKind.QUOTES.value, StreamKind.TICKER.value})
"""Stream kinds whose state is their last event (one key)."""
_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


def key_of(event: Event) -> str | None:
    """The key an event updates in its stream's state (None: not a keyed event)."""
    match event:
        case AssetMetric():
            return event.metric
        case Order():
            return event.id
        case Position():
            return event.party
    return None


def ends(event: Event) -> bool:
    """Whether the event removes its key from the state (an order in a final status)."""
    return isinstance(event, Order) and event.status in _FINAL


@dataclass
class KeyedState:
    """The state of one keyed stream in one epoch, folded in seq order."""

    epoch: str
    seq: int = 0
    rows: dict[str, Row] = field(default_factory=dict)

    def apply(self, row: Row, event: Event | None = None) -> None:
        """Fold one row of the epoch (its decoded ``event`` if the caller has it)."""
        event = row.event if event is None else event
        self.seq = row.seq
        key = key_of(event)
        if key is None:
            return
        if ends(event):
            self.rows.pop(key, None)
        else:
            self.rows[key] = row

    def fold(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.apply(row)

    def encode(self) -> bytes:
        """The checkpoint data of this state (module docstring)."""
        items = [[r.seq, r.time_ns, r.recv_ns, r.data.decode()] for r in self.rows.values()]
        return orjson.dumps(items)

    @classmethod
    def decode(cls, checkpoint: Row) -> KeyedState:
        """The state a checkpoint row holds (ValueError if it is not a keyed checkpoint)."""
        try:
            items = orjson.loads(checkpoint.data)
            state = cls(checkpoint.epoch, checkpoint.seq)
            kind = kind_of(checkpoint.stream)
            for seq, time_ns, recv_ns, payload in items:
                data = payload.encode()
                row = Row(checkpoint.stream, kind, checkpoint.epoch, seq, time_ns, recv_ns, data)
                key = key_of(decode_event(data))
                if key is None:
                    raise ValueError("not a keyed event")
                state.rows[key] = row
        except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ValueError("not a keyed checkpoint") from exc
        return state


@dataclass
class _Tracked:
    state: KeyedState | None
    since: int = 0
    bucket: int = -1


class KeyedCheckpointer:
    """Follows every keyed stream the writer stores; says when to write a checkpoint."""

    def __init__(self, *, every_events: int = 2_000, every_ns: int = 10_000_000_000) -> None:
        self._every_events = every_events
        self._every_ns = every_ns
        self._streams: dict[str, _Tracked] = {}

    def observe(self, row: Row, event: Event) -> Checkpoint | None:
        """Follow one stored row (rows of other kinds are ignored); the checkpoint to write."""
        if row.kind not in KEYED_KINDS:
            return None
        tracked = self._streams.get(row.stream)
        state = tracked.state if tracked is not None else None
        if state is None or state.epoch != row.epoch or state.seq + 1 != row.seq:
            # from seq 1 the state is known; a hole, or joining mid-epoch: unknown for the epoch
            tracked = _Tracked(KeyedState(row.epoch) if row.seq == 1 else None)
            self._streams[row.stream] = tracked
        assert tracked is not None
        if tracked.state is None:
            return None
        tracked.state.apply(row, event)
        tracked.since += 1
        bucket = row.time_ns // self._every_ns
        if tracked.since < self._every_events and bucket == tracked.bucket:
            return None
        tracked.since, tracked.bucket = 0, bucket
        data = tracked.state.encode()
        return Checkpoint(row.stream, row.epoch, row.seq, row.time_ns, data)
