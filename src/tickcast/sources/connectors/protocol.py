"""The sans-I/O contract between a venue's wire code and the connector runner.

A ``VenueFeed`` holds the state of one WebSocket connection to one venue (its subscriptions, its
books being synchronised, the last trade id per market). The runner feeds it what arrives and
carries out the commands it returns; the feed never touches a socket, a clock or a timer.

Commands, in the order they must be carried out:

- ``Send``: a text frame to send on the WebSocket (subscribe, ping, resubscribe).
- ``Publish``: normalised events (trades, book snapshots and deltas, quotes, tickers), in order.
- ``FetchSnapshot``: GET ``path`` on the venue's REST endpoint and give the body back with
  ``VenueFeed.rest_snapshot(request_id, body, recv_ns)`` (the runner rate-limits these).
- ``TradesLost``: trades of ``market`` may have been lost (gap in trade ids or a reconnect); the
  runner backfills from REST where the venue allows it, otherwise reports a trades gap (counted
  in health and metrics, logged; see docs/connectors.md, "Lost trades").
- ``Resynced``: the book of ``market`` broke (sequence gap, checksum mismatch, stale snapshot) and
  was restarted; counted in health and metrics. A reset ``BookSnapshot`` is always published too.
- ``Reconnect``: the connection is unusable (venue error, unrecoverable state); close and reconnect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tickcast.model.events import Event
from tickcast.model.markets import Market


@dataclass(frozen=True, slots=True)
class Instrument:
    """One venue instrument: the venue's own symbol and the Coin Metrics market it becomes.

    ``market`` carries the venue's real tick and lot sizes (from its instrument list)."""

    venue_symbol: str
    market: Market


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class Publish:
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class FetchSnapshot:
    request_id: str
    """Opaque to the runner; usually the venue symbol."""
    path: str
    """Path and query on the REST endpoint, e.g. ``/api/v3/depth?symbol=BTCUSDT&limit=1000``."""
    weight: int = 1
    """The venue's rate-limit weight of this request."""


@dataclass(frozen=True, slots=True)
class TradesLost:
    market: str
    reason: str
    after_trade_id: str | None = None
    """The last trade id published before the loss, when known (REST backfill starts there)."""
    before_trade_id: str | None = None
    """The first trade id received after the loss, when known (REST backfill stops there). The
    feed publishes that trade right after this command; the runner holds it back until the
    backfilled trades before it are published."""


@dataclass(frozen=True, slots=True)
class Resynced:
    market: str
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnect:
    reason: str


Command = Send | Publish | FetchSnapshot | TradesLost | Resynced | Reconnect


class VenueFeed(Protocol):
    """Sans-I/O state of one WebSocket connection to a venue (see the module docstring)."""

    def connected(self) -> Sequence[Command]:
        """The socket is open: the subscribe frames (and snapshot requests, if any)."""
        ...

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        """One WebSocket message from the venue."""
        ...

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        """The body of a ``FetchSnapshot`` answer (status 200)."""
        ...

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        """The socket closed or went silent: books restart, trades may be lost."""
        ...

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        """Called by the runner every second: venue pings, stale-feed detection."""
        ...
