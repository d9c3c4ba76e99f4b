"""The dialects this server speaks, in mounting order: adding a dialect is adding its package and
one line here (docs/dialects/adding-a-dialect.md).

Order matters only for routes that could overlap and for the order of the lifespans: the node
starts first and stops first (closing every connection), then each dialect in this order.
"""

from __future__ import annotations

from tickcast.dialects.coinmetrics import endpoint as coinmetrics
from tickcast.dialects.native import endpoint as native
from tickcast.dialects.predictions import endpoint as predictions
from tickcast.dialects.socketio_feed import endpoint as socketio_feed
from tickcast.dialects.vega import endpoint as vega
from tickcast.server.dialect import DialectFactory

DIALECTS: list[DialectFactory] = [
    predictions.dialect,  # /ws and /api/v1/models (off without the predict extra)
    native.dialect,  # /api/v1/ws
    vega.dialect,  # /api/v2/stream/* and /api/v2/*
    coinmetrics.dialect,  # /v4/*
    socketio_feed.dialect,  # /socket.io/ (a middleware)
]
