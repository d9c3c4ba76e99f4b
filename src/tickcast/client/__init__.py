"""The tickcast Python SDK: a resuming, self-checking client of the native ``/api/v1/ws`` protocol.

    async with Client("ws://127.0.0.1:8080", key) as client:
        async for message in client.subscribe(["book:binance-btc-usdt-spot"]):
            ...

See ``docs/sdk.md``. Imports only ``tickcast.model``, ``tickcast.errors``, ``tickcast.book``,
``websockets`` and the standard library.
"""

from tickcast.client.books import LocalBook
from tickcast.client.connection import Client
from tickcast.client.dialer import ws_url
from tickcast.client.errors import Disconnected, Rejected
from tickcast.client.messages import (
    CLIENT_DETECTED,
    PREV_MISMATCH,
    ChecksumMismatch,
    Gap,
    Message,
    Reconnected,
    Reset,
    ServerError,
    Snapshot,
    Update,
    parse_message,
)
from tickcast.client.subscription import Subscription
from tickcast.client.sync import SyncClient
from tickcast.client.tracker import ClientStats, StreamTracker

__all__ = [
    "CLIENT_DETECTED",
    "PREV_MISMATCH",
    "ChecksumMismatch",
    "Client",
    "ClientStats",
    "Disconnected",
    "Gap",
    "LocalBook",
    "Message",
    "Reconnected",
    "Rejected",
    "Reset",
    "ServerError",
    "Snapshot",
    "StreamTracker",
    "Subscription",
    "SyncClient",
    "Update",
    "parse_message",
    "ws_url",
]
