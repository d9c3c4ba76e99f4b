"""Pins every third-party internal the transport seam (tickcast.server.seam) relies on, so that
an upgrade of uvicorn, websockets, Starlette, python-engineio or python-socketio that moves one
fails here, by name, rather than somewhere in an endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any

import engineio
import pytest
import socketio
import websockets.http11
from starlette.websockets import WebSocket
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from tickcast.server import seam
from tickcast.server.seam import engineio as seam_engineio
from tickcast.server.seam.asgi import _protocol_of

# -- uvicorn's sans-I/O WebSocket protocol (seam/uvicorn_ws.py, seam/lean.py) -----------------

WS_METHODS = [
    "handle_connect", "resume_writing", "connection_lost", "data_received",
    "send_receive_event_to_app", "on_task_complete", "send", "stop_keepalive",
    "handle_parser_exception",
]  # fmt: skip
WS_ATTRIBUTES = [
    "config", "connections", "transport", "queue", "handshake_complete", "close_sent",
    "disconnected", "close_timer", "conn", "read_paused", "writable", "ping_interval",
    "ping_timeout", "frames", "curr_msg_data_type",
]  # fmt: skip


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


@pytest.mark.parametrize("name", WS_METHODS)
def test_uvicorn_ws_protocol_has_the_methods_the_seam_overrides(name: str) -> None:
    assert callable(getattr(WebSocketsSansIOProtocol, name, None)), name


async def test_uvicorn_ws_protocol_has_the_attributes_the_seam_reads() -> None:
    config = Config(_app, ws=WebSocketsSansIOProtocol, lifespan="off")
    config.load()
    protocol = WebSocketsSansIOProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    for name in WS_ATTRIBUTES:
        assert hasattr(protocol, name), name
    assert isinstance(protocol.queue, asyncio.Queue)
    assert protocol.close_timer is None  # uvicorn closes the transport on return unless set
    assert hasattr(protocol.conn, "reader") and hasattr(protocol.conn.reader, "buffer")
    assert hasattr(protocol.conn, "extensions") and callable(protocol.conn.send_close)
    assert issubclass(ClientDisconnected, OSError)  # endpoints catch OSError for a gone peer


def test_websockets_handshake_bounds_are_module_globals() -> None:
    assert isinstance(websockets.http11.MAX_LINE_LENGTH, int)
    assert isinstance(websockets.http11.MAX_NUM_HEADERS, int)


# -- uvicorn's httptools HTTP protocol (seam/uvicorn_http.py) --------------------------------

HTTP_METHODS = [
    "connection_made", "connection_lost", "data_received", "on_message_begin", "on_url",
    "on_header", "on_headers_complete", "handle_websocket_upgrade", "send_400_response",
    "_should_upgrade", "_unsupported_upgrade_warning", "_unset_keepalive_if_required",
]  # fmt: skip


@pytest.mark.parametrize("name", HTTP_METHODS)
def test_uvicorn_http_protocol_has_the_methods_the_seam_uses(name: str) -> None:
    assert callable(getattr(HttpToolsProtocol, name, None)), name


# -- Starlette's WebSocket and the closure walk (seam/asgi.py) -------------------------------


class _FakeProtocol:
    def __init__(self) -> None:
        self.transport = object()

    async def send(self, message: Any) -> None:
        return None


async def test_starlette_websocket_keeps_the_raw_send_as_underscore_send() -> None:
    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        return None

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    assert seam.asgi_send(websocket) is send


def test_the_protocol_is_found_through_middleware_closures() -> None:
    protocol = _FakeProtocol()
    inner = protocol.send

    async def middleware_send(message: Any) -> None:
        await inner(message)

    def wrap(send: Any) -> Any:
        async def outer(message: Any) -> None:
            await send(message)

        return outer

    assert _protocol_of(wrap(wrap(middleware_send))) is protocol
    assert _protocol_of(lambda message: None) is None


# -- python-engineio / python-socketio (seam/engineio.py) ------------------------------------


def test_socketio_server_internals() -> None:
    server = seam_engineio.new_server()
    assert isinstance(server, socketio.AsyncServer)
    assert callable(socketio.AsyncServer._handle_eio_message)
    assert hasattr(server, "_binary_packet") and hasattr(server, "packet_class")
    manager = server.manager
    for name in ("eio_sid_from_sid", "sid_from_eio_sid", "get_namespaces", "disconnect"):
        assert callable(getattr(manager, name)), name
    parameters = inspect.signature(manager.disconnect).parameters.values()
    assert any(p.name == "ignore_queue" or p.kind is p.VAR_KEYWORD for p in parameters)
    assert isinstance(server.eio.sockets, dict)
    reason = server.eio.reason
    assert reason.CLIENT_DISCONNECT != reason.SERVER_DISCONNECT
    assert callable(server.eio.send) and callable(server.eio.disconnect)
    assert issubclass(seam_engineio.refusal("x").__class__, socketio.exceptions.SocketIOError)


def test_engineio_socket_internals() -> None:
    from engineio.async_socket import AsyncSocket

    parameters = inspect.signature(AsyncSocket.close).parameters
    assert {"wait", "abort", "reason"} <= set(parameters)
    socket_ = AsyncSocket(engineio.AsyncServer(async_mode="asgi"), "sid")
    for name in ("closed", "closing", "upgraded", "queue"):
        assert hasattr(socket_, name), name
    assert hasattr(asyncio.Queue(), "_unfinished_tasks")


async def test_engineio_session_queue_is_ours_and_its_writer_waits_on_get() -> None:
    """``Sessions.queue`` / ``on_idle`` rely on: each session's queue comes from the server's
    ``create_queue`` (our ``IdleQueue``); a queued ``Packet(MESSAGE)`` is what ``eio.send``
    queues; the writer's ``poll`` takes packets with ``queue.get()`` (so it calls ``on_idle``
    on an empty queue after sending what it took)."""
    from engineio import packet
    from engineio.async_socket import AsyncSocket

    server = seam_engineio.new_server()
    socket_ = AsyncSocket(server.eio, "sid")
    assert isinstance(socket_.queue, seam_engineio.IdleQueue)
    server.eio.sockets["sid"] = socket_
    sessions = seam_engineio.Sessions(server, "/ns", close_timeout=1.0)
    idle: list[int] = []
    sessions.on_idle("sid", lambda: idle.append(socket_.queue.qsize()))
    assert sessions.queue("sid", "2/ns,[1]") == 1
    (taken,) = await socket_.poll()
    assert taken.packet_type == packet.MESSAGE and taken.data == "2/ns,[1]"
    assert idle == []  # the queue held a packet: not idle
    assert "self.queue.get()" in inspect.getsource(AsyncSocket.poll)
    waiting = asyncio.ensure_future(socket_.poll())
    for _ in range(5):  # poll's wait_for runs get() in a task of its own: a few loop passes
        if idle:
            break
        await asyncio.sleep(0)
    assert idle == [0]  # the writer waits on the empty queue
    waiting.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await waiting
    assert sessions.queue("gone", "x") == -1
