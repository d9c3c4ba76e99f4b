"""The dialect registry: ``build_app`` mounts exactly the dialects it is given, each through
the same seams (routes, service, lifespan, the one connection lifecycle). A toy dialect added
the way docs/dialects/adding-a-dialect.md says is served, listed by the control plane, metered
and released like a built-in one."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from tests.conftest import ServerFactory

from tickcast.app.registry import DIALECTS
from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService
from tickcast.dialects.native import endpoint as native
from tickcast.dialects.socketio_feed.endpoint.feed import SocketIOFeed
from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.errors import TickcastError
from tickcast.server.connections import connection_info
from tickcast.server.dialect import Dialect
from tickcast.server.limits import Pool
from tickcast.server.node import Node
from tickcast.server.services import services_of
from tickcast.storage.base import Principal


class EchoService:
    """A toy dialect: ``/echo?key=…`` echoes each text frame, through the node's lifecycle."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.events: list[str] = []
        self.open: dict[str, EchoConnection] = {}

    async def start(self) -> None:
        assert self.node.ready  # the node starts first
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            admission = await self.node.connections.admit(
                websocket.query_params.get("key"), Pool.STREAMS
            )
        except TickcastError as error:
            refusal = self.node.connections.refused(error)
            await websocket.accept()
            await websocket.close(4000, refusal.metric)
            return
        await websocket.accept()
        connection = EchoConnection(websocket, admission.principal)
        async with admission.opened(connection) as lease:
            self.open[connection.id] = connection
            async for text in websocket.iter_text():
                await websocket.send_text(text)
                lease.delivered(1, len(text))
        self.open.pop(connection.id, None)


class EchoConnection:
    dialect = "echo"

    def __init__(self, websocket: WebSocket, principal: Principal) -> None:
        self.id = f"echo{id(self)}"
        self.principal = principal
        self.remote = "test"
        self.opened_at = 0.0
        self._websocket = websocket

    def info(self) -> dict[str, object]:
        return connection_info(self, subscriptions=[], pending_bytes=0, messages=0, nbytes=0)

    async def close(self, code: int, reason: str, *, retry: bool) -> None:
        await self._websocket.close(code, reason)


def echo_dialect(node: Node) -> Dialect:
    service = EchoService(node)
    return Dialect(
        "echo",
        routes=[WebSocketRoute("/echo", service.endpoint)],
        service=service,
        start=service.start,
        stop=service.stop,
    )


async def test_a_dialect_added_to_the_registry_is_served_listed_and_released(
    start_server: ServerFactory,
) -> None:
    server = await start_server(dialects=[*DIALECTS, echo_dialect], usage_flush_interval=3600)
    echo = services_of(server.app).service(EchoService)
    assert echo.events == ["start"]
    url = f"ws://{server.host}:{server.port}/echo?key={server.admin_key}"
    async with websockets.connect(url) as client:
        await client.send("hello")
        assert await client.recv() == "hello"
        async with httpx.AsyncClient(base_url=server.http) as http:
            listed = await http.get("/api/v1/connections", headers={"X-API-Key": server.admin_key})
        assert [c["dialect"] for c in listed.json()] == ["echo"]
        assert server.node.limits.count(Pool.STREAMS, "dev") == 1
    async with asyncio.timeout(5):
        while server.node.connections:
            await asyncio.sleep(0.01)
    assert server.node.limits.count(Pool.STREAMS, "dev") == 0  # the lease gave the slot back
    [usage] = server.node.meter.snapshot().values()  # the admin key's (no flush meanwhile)
    assert (usage.connections, usage.messages, usage.bytes) == (1, 1, 5)  # metered


async def test_a_bad_key_is_refused_through_the_shared_table(start_server: ServerFactory) -> None:
    server = await start_server(dialects=[echo_dialect])
    url = f"ws://{server.host}:{server.port}/echo?key=tc_live_nope"
    async with websockets.connect(url) as client:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "unauthenticated")


async def test_only_the_dialects_given_are_mounted(start_server: ServerFactory) -> None:
    server = await start_server(dialects=[native.dialect])
    services = services_of(server.app)
    assert [d.name for d in services.dialects] == ["native"]
    assert services.find(CoinMetricsService) is None
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/v4/catalog-v2/market-trades")).status_code == 404
        assert (await http.get("/api/v1/ws")).status_code == 400  # the native route


async def test_every_built_in_dialect_is_registered_once(start_server: ServerFactory) -> None:
    server = await start_server(predictions="off")
    services = services_of(server.app)
    assert [d.name for d in services.dialects] == [
        "native",
        "vega",
        "coinmetrics",
        "socketio_feed",
    ]  # predictions off: its factory returned None
    for kind in (VegaFeed, CoinMetricsService, SocketIOFeed):
        assert isinstance(services.service(kind), kind)
