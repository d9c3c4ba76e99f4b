"""Admitting a Vega stream: the checks the data-node makes, in its order.

``admit`` checks a request (path, key if required, query filters, known ids, streams per client
address, the user's connection slots) and returns a :class:`VegaStream`, or raises a class of
``tickcast.errors``: the endpoint renders it through the refusal table's Vega column
(``server/refusals.py``), the single error line to send before dropping the connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tickcast.auth.plans import Plan
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.stream import PUBLIC_USER, VegaStream, public_principal
from tickcast.dialects.vega.wire.filters import (
    Filter,
    InvalidArgument,
    Malformed,
    StreamName,
    parse,
    parse_stream_name,
)
from tickcast.dialects.vega.wire.ids import market_hex, parse_candle_id
from tickcast.errors import (
    BadParameter,
    InvalidApiKey,
    LimitExceeded,
    MalformedParameter,
    NotEntitled,
    TooManyStreams,
    Unavailable,
    UnknownStream,
)
from tickcast.model import StreamKind
from tickcast.server.credentials import api_key_from
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.storage.base import Principal

KIND_OF: dict[StreamName, StreamKind] = {
    StreamName.TRADES: StreamKind.TRADES,
    StreamName.ORDERS: StreamKind.ORDERS,
    StreamName.POSITIONS: StreamKind.POSITIONS,
    StreamName.ACCOUNTS: StreamKind.POSITIONS,
    StreamName.MARGIN_LEVELS: StreamKind.POSITIONS,
    StreamName.LEDGER: StreamKind.POSITIONS,
    StreamName.MARKETS_DATA: StreamKind.QUOTES,
    StreamName.MARKETS_DEPTH: StreamKind.BOOK,
    StreamName.DEPTH_UPDATES: StreamKind.BOOK,
    StreamName.CANDLES: StreamKind.CANDLES,
}
"""The tickcast stream kind a plan must grant for each Vega stream (``vega_require_key``)."""


def _plan_markets(node: Node, plan: Plan, selection: Filter) -> Filter:
    """Limit a keyed stream to the markets its plan grants; NotEntitled if it names others."""
    feed_markets = {market_hex(m.id): m.id for m in node.catalog}
    wanted = set(selection.markets)
    if selection.candle_id:
        parsed = parse_candle_id(selection.candle_id)
        if parsed is not None:
            wanted.add(parsed[1])
    denied = [hex_id for hex_id in wanted if not plan.allows_market(feed_markets[hex_id])]
    if denied:
        raise NotEntitled("the plan does not grant these markets")
    if not wanted and "*" not in plan.markets:
        allowed = frozenset(h for h, m in feed_markets.items() if plan.allows_market(m))
        return replace(selection, markets=allowed)
    return selection


def _public(feed: VegaFeed) -> Principal:
    """The public principal, one object for every stream that needs no key."""
    plan = feed.node.plans["admin"]
    public = feed.public
    if public is None or public.plan is not plan:
        public = feed.public = public_principal(plan)
    return public


async def _principal(
    feed: VegaFeed,
    stream: StreamName,
    headers: Mapping[str, str],
    query: Sequence[tuple[str, str]],
) -> Principal:
    """The public principal, or with ``vega_require_key`` the key's (which must grant the kind)."""
    node = feed.node
    if not node.config.vega_require_key:
        return _public(feed)
    principal = await node.authenticate(api_key_from(headers, dict(query)))
    if principal is None:
        raise InvalidApiKey("unauthenticated")
    if not principal.plan.allows_kind(KIND_OF[stream]):
        raise NotEntitled("the plan does not grant this stream")
    return principal


def _selection(feed: VegaFeed, stream: StreamName, query: Sequence[tuple[str, str]]) -> Filter:
    try:
        selection = parse(stream, query)
    except Malformed as error:
        raise MalformedParameter(str(error)) from None
    except InvalidArgument as error:
        raise BadParameter(error.message, inner=error.inner) from None
    unknown = feed.state.unknown_id(selection)
    if unknown is not None:
        raise unknown
    return selection


async def admit(
    feed: VegaFeed,
    *,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    host: str,
    remote: str,
) -> VegaStream:
    """A stream for the request, or a ``tickcast.errors`` class (the refusal table's Vega
    column gives its line)."""
    node = feed.node
    stream = parse_stream_name(path)
    if stream is None:
        raise UnknownStream("no such stream path")
    if not node.ready:
        raise Unavailable("the node is not ready")
    principal = await _principal(feed, stream, headers, query)
    selection = _selection(feed, stream, query)
    if node.config.vega_require_key:
        selection = _plan_markets(node, principal.plan, selection)
    if not feed.addresses.try_acquire(host, feed.max_streams_per_address):
        raise TooManyStreams("too many streams from this address")
    try:
        # the public principal (no key needed) is counted without a cap
        limit = 0 if principal.user == PUBLIC_USER else None
        admission = await node.connections.admit_principal(principal, Pool.STREAMS, limit=limit)
    except LimitExceeded:
        feed.addresses.release(host)
        raise
    selection = feed.intern(selection)
    return VegaStream(feed=feed, selection=selection, admission=admission, remote=remote, host=host)
