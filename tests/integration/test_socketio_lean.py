"""The feed's lean Engine.IO session (``endpoint/lean.py``) against python-socketio's: the same
conversations, packet for packet, on one real server with the lean path on and off; and an
idle lean session owns no task."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tests.integration.test_socketio_feed import eventually, ticker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tickcast.dialects.socketio_feed.endpoint.feed import SocketIOFeed
from tickcast.server.limits import Pool
from tickcast.server.services import services_of

Transcript = list[str]
Conversation = Callable[[ClientConnection, "Recorder"], Awaitable[None]]

_SID = re.compile(r'"sid":"[A-Za-z0-9_-]+"')


class Recorder:
    """Every frame the server sent, sids masked, and how the connection ended."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: Transcript = []

    async def recv(self, count: int = 1) -> None:
        for _ in range(count):
            frame = await asyncio.wait_for(self.ws.recv(), 10)
            assert isinstance(frame, str)
            self.frames.append(_SID.sub('"sid":"*"', frame))

    async def end(self) -> None:
        """The server's remaining frames until it closes the connection, then its close."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            self.frames.append(f"<closed {code}>")


async def session_of(feed: Any, url: str, conversation: Conversation, *, lean: bool) -> Transcript:
    feed.lean = lean
    async with connect(url) as ws:
        recorder = Recorder(ws)
        await recorder.recv()  # OPEN
        await conversation(ws, recorder)
        return recorder.frames


async def both(server: Any, conversation: Conversation) -> tuple[Transcript, Transcript]:
    feed = services_of(server.app).service(SocketIOFeed)
    url = f"ws://{server.host}:{server.port}/socket.io/?EIO=4&transport=websocket"
    legacy = await session_of(feed, url, conversation, lean=False)
    await eventually(lambda: server.node.limits.total(Pool.FEED) == 0, "the slot back")
    lean = await session_of(feed, url, conversation, lean=True)
    await eventually(lambda: server.node.limits.total(Pool.FEED) == 0, "the slot back")
    return legacy, lean


async def test_lean_session_sends_python_socketios_packets(start_server) -> None:
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")

    async def conversation(ws: ClientConnection, rec: Recorder) -> None:
        await server.node.publish([ticker("btc", 8_725_050), ticker("eth", 310_000)])
        await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
        await rec.recv(2)  # CONNECT ack, initial-prices
        await ws.send('42/api-ws,7["subscribe",{"symbols":["btc","nope"]}]')
        await rec.recv()
        await ws.send('42/api-ws,8["unsubscribe",{"symbols":"BTC"}]')
        await rec.recv()
        await ws.send('42/api-ws,["unsubscribe",{"symbols":["ETH"]}]')  # no ack asked
        await ws.send('42/api-ws,["nothing-like-it",1]')  # not handled: no ack
        await ws.send('42/api-ws,9["nothing-like-it"]')
        await ws.send('42/api-ws,10["subscribe",{"symbols":["ETH","SOL"]}]')
        await rec.recv()
        await server.node.publish([ticker("eth", 310_100), ticker("btc", 8_725_100)])
        await rec.recv(2)
        await ws.send("40")  # the root namespace, which python-socketio accepts
        await rec.recv()
        await ws.send("40/elsewhere,")
        await rec.recv()
        await ws.send("41")
        await ws.send("41/api-ws,")  # the session stays: "/" was connected (then left)
        await rec.end()

    legacy, lean = await both(server, conversation)
    assert legacy == lean
    assert lean[1] == '40/api-ws,{"sid":"*"}', lean
    root, elsewhere = '40{"sid":"*"}', '44/elsewhere,"Unable to connect"'
    assert lean[-4:] == [root, elsewhere, "1", "<closed 1000>"]


async def test_lean_session_refusal_and_client_disconnect_match(start_server) -> None:
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")

    async def refused(ws: ClientConnection, rec: Recorder) -> None:
        await ws.send('40/api-ws,{"apiKey":"nope"}')
        await rec.end()

    async def undecodable(ws: ClientConnection, rec: Recorder) -> None:
        await ws.send("40/api-ws,{not json")
        await rec.end()

    async def leaves(ws: ClientConnection, rec: Recorder) -> None:
        await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
        await rec.recv(2)
        await ws.send("41/api-ws,")
        await rec.end()

    for conversation in (refused, undecodable, leaves):
        legacy, lean = await both(server, conversation)
        assert legacy == lean, conversation.__name__
    assert lean[-2:] == ["1", "<closed 1000>"]


async def test_lean_session_pings_and_closes_on_a_missing_pong(start_server) -> None:
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")
    eio = services_of(server.app).service(SocketIOFeed).sio.eio
    eio.ping_interval, eio.ping_timeout = 0.2, 0.2

    async def no_pong(ws: ClientConnection, rec: Recorder) -> None:
        await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
        await rec.recv(3)  # ack, initial-prices, PING
        await ws.send("3")
        await rec.recv()  # PING, unanswered
        await rec.end()

    legacy, lean = await both(server, no_pong)
    assert legacy == lean
    assert lean[3:] == ["2", "2", "<closed 1000>"], lean


async def test_idle_lean_sessions_own_no_task_and_get_updates(start_server) -> None:
    """Idle lean sessions: no ASGI task, no Engine.IO reader, writer or pinger task; the hub's
    direct batches still reach them."""
    server = await start_server(sources="none")
    await server.node.publish([ticker("btc", 8_725_050)])
    url = f"ws://{server.host}:{server.port}/socket.io/?EIO=4&transport=websocket"
    clients: list[ClientConnection] = []
    try:
        for user in range(4):
            key = await server.key("pro", user=f"u{user}", prefix="ci_live_")
            ws = await connect(url)
            clients.append(ws)
            recorder = Recorder(ws)
            await recorder.recv()
            await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
            await recorder.recv(2)
            assert recorder.frames[2].startswith('42/api-ws,["initial-prices",')
        await eventually(lambda: len(server.node.connections) == 4, "4 connections")
        await eventually(lambda: not _server_tasks(), "no task per session")
        await server.node.publish([ticker("btc", 8_725_150)])
        for ws in clients:
            recorder = Recorder(ws)
            await recorder.recv()
            assert recorder.frames[0].startswith('42/api-ws,["price-update",{"symbol":"BTC",')
    finally:
        for ws in clients:
            await ws.close()
    await eventually(lambda: not server.node.connections, "every connection released")
    assert server.node.hub.subscriber_count() == 0


def _server_tasks() -> list[str]:
    names = (getattr(task.get_coro(), "__qualname__", "") for task in asyncio.all_tasks())
    parts = ("run_asgi", "LeanSession", "AsyncSocket", "SocketIOFeed", "_websocket_handler")
    return [name for name in names if any(part in name for part in parts)]
