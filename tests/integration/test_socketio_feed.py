"""The Socket.IO price feed end to end: python-socketio, the official socket.io-client (node)
and raw Engine.IO frames against a real server (docs/dialects/socketio-feed.md)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect

from tickcast.dialects.socketio_feed.endpoint import feed as server_feed
from tickcast.dialects.socketio_feed.wire.protocol import SYMBOLS as FEED_SYMBOLS
from tickcast.model import Ticker
from tickcast.server.limits import Pool

NAMESPACE = "/api-ws"
SYMBOLS = {
    "BTC", "ETH", "LTC", "XRP", "BCH", "ADA", "DOT", "LINK", "BNB", "DOGE",
    "UNI", "SOL", "MATIC", "AVAX", "ATOM", "XLM", "ALGO", "VET", "ICP", "FIL",
}  # fmt: skip
SUBSCRIBED = {"BTC", "ETH", "SOL"}
FIELDS = {"symbol", "price", "volume", "timestamp", "change", "changePercent"}
JS_DIR = Path(__file__).resolve().parents[1] / "js"
JS_EXAMPLE = JS_DIR / "socketio-feed-example.mjs"


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def all_tickers(server: Any) -> None:
    """Wait until the simulator has published a ticker for every symbol."""
    keeper = server.node.keeper
    await eventually(
        lambda: all(keeper.snapshot(f"ticker:{s.lower()}") for s in SYMBOLS), "20 tickers"
    )


def ticker(asset: str, price: int, *, second: int = 1_775_001_600) -> Ticker:
    """A ticker with 2 price decimals, opened 100.00 lower, 1000 units traded in 24 h."""
    return Ticker(
        asset=asset,
        decimals=2,
        price=price,
        open_24h=price - 10_000,
        high_24h=price,
        low_24h=price - 10_000,
        volume_24h=100_000_000,
        volume_decimals=5,
        time_ns=second * 1_000_000_000,
    )


class FeedClient:
    """A python-socketio client of the feed recording every event in arrival order."""

    def __init__(self, *, reconnection: bool = False) -> None:
        self.sio = socketio.AsyncClient(reconnection=reconnection)
        self.events: list[tuple[str, Any]] = []
        self.errors: list[Any] = []
        self.disconnects: list[str] = []
        for name in ("initial-prices", "price-update"):
            self.sio.on(name, self._recorder(name), namespace=NAMESPACE)
        self.sio.on("connect_error", self.errors.append, namespace=NAMESPACE)
        self.sio.on("disconnect", self.disconnects.append, namespace=NAMESPACE)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        return lambda data: self.events.append((name, data))

    async def connect(self, url: str, key: str | None, transport: str = "websocket") -> None:
        auth = {"apiKey": key} if key is not None else None
        await self.sio.connect(
            url, namespaces=[NAMESPACE], auth=auth, transports=[transport], wait_timeout=10
        )

    async def call(self, event: str, payload: object) -> Any:
        return await self.sio.call(event, payload, namespace=NAMESPACE, timeout=10)

    def updates(self, since: int = 0) -> list[dict[str, Any]]:
        return [data for name, data in self.events[since:] if name == "price-update"]

    async def close(self) -> None:
        await self.sio.disconnect()


@asynccontextmanager
async def feed_client(
    url: str, key: str, transport: str = "websocket"
) -> AsyncIterator[FeedClient]:
    client = FeedClient()
    await client.connect(url, key, transport)
    try:
        yield client
    finally:
        await client.close()


async def refusal(url: str, key: str | None) -> str:
    """The CONNECT_ERROR message a python-socketio client gets for ``key``."""
    client = FeedClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, key)
    assert len(client.errors) == 1
    return str(client.errors[0]["message"])


class JsClient:
    """``node socketio-feed-example.mjs <url> <key>``: its stdout lines parsed into events."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[tuple[str, Any]] = []

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        assert self.process.stdout is not None
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"node client: timed out waiting for {what}: {self.events}")
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                await self.process.wait()
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(
                    f"node client exited ({self.process.returncode}) before {what}: "
                    f"{stderr.decode(errors='replace')}"
                )
            name, _, payload = line.decode().rstrip("\n").partition(" ")
            self.events.append((name, json.loads(payload) if payload else None))

    def index(self, name: str) -> int:
        return next(i for i, (event, _) in enumerate(self.events) if event == name)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@asynccontextmanager
async def js_example(
    url: str, key: str, env: dict[str, str] | None = None
) -> AsyncIterator[JsClient]:
    """Run the vendor's JavaScript example; FAIL (never skip) without node or the npm package.
    ``env`` adds environment variables (e.g. ``NODE_EXTRA_CA_CERTS``)."""
    node = shutil.which("node")
    assert node is not None, "node (v20) is required for the socket.io-client tests"
    package = JS_DIR / "node_modules" / "socket.io-client" / "package.json"
    assert package.is_file(), "socket.io-client is not installed: run npm ci --prefix tests/js"
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_EXAMPLE),
        url,
        key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        yield JsClient(process)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 10)


def assert_market_updates(updates: list[dict[str, Any]]) -> None:
    for update in updates:
        assert set(update) == FIELDS
        assert update["symbol"] in SYMBOLS
        for field in FIELDS - {"symbol"}:
            assert isinstance(update[field], int | float) and not isinstance(update[field], bool)
        assert 1_700_000_000 < update["timestamp"] < 4_000_000_000  # Unix seconds
        assert update["price"] > 0 and update["volume"] >= 0


# -- the vendor's examples ----------------------------------------------------------------------


async def test_socketio_feed_python_vendor_example(start_server) -> None:
    """The vendor's python-socketio example gets initial prices and live updates of every
    symbol; after subscribe to BTC, ETH and SOL it receives only those."""
    server = await start_server(sources="simulator:stress")
    key = await server.key("pro", user="u", prefix="ci_live_")
    await all_tickers(server)
    URL = server.http  # the vendor's "https://chartinspect.com"

    # -- the vendor's example, with only the URL changed --
    sio = socketio.AsyncClient()
    received: list[tuple[str, Any]] = []

    @sio.on("initial-prices", namespace="/api-ws")
    def on_initial_prices(prices: list[dict[str, Any]]) -> None:
        received.append(("initial-prices", prices))

    @sio.on("price-update", namespace="/api-ws")
    def on_price_update(update: dict[str, Any]) -> None:
        received.append(("price-update", update))

    await sio.connect(URL, namespaces=["/api-ws"], auth={"apiKey": key}, transports=["websocket"])
    # -- end of the vendor's connect code --
    try:
        live = lambda: {data["symbol"] for name, data in received if name == "price-update"}  # noqa: E731
        await eventually(lambda: len(live()) >= 5, "updates of 5 different symbols")
        acks: list[Any] = []
        await sio.emit(
            "subscribe", {"symbols": ["BTC", "ETH", "SOL"]}, namespace="/api-ws",
            callback=acks.append,
        )  # fmt: skip
        await eventually(lambda: bool(acks), "the subscribe acknowledgement")
        after = len(received)
        await eventually(lambda: len(received) - after >= 4, "4 updates after subscribe")
    finally:
        await sio.disconnect()

    assert received[0][0] == "initial-prices"
    initial = received[0][1]
    assert {update["symbol"] for update in initial} == SYMBOLS
    assert_market_updates(initial)
    assert acks == [{"ok": True, "symbols": ["BTC", "ETH", "SOL"], "unknown": []}]
    assert [name for name, _ in received[1:]] == ["price-update"] * (len(received) - 1)
    assert_market_updates([data for _, data in received[1:]])
    assert {data["symbol"] for _, data in received[after:]} <= SUBSCRIBED


async def test_socketio_feed_js_vendor_example(start_server) -> None:
    """The official socket.io-client runs the vendor's example unchanged but for the URL:
    initial prices of all 20 symbols, then, once subscribed, BTC, ETH and SOL only."""
    server = await start_server(sources="simulator:stress")
    key = await server.key("pro", user="u", prefix="ci_live_")
    await all_tickers(server)
    async with js_example(server.http, key) as client:
        await client.until(lambda: "subscribed" in client.names(), "subscribed")
        subscribed = client.index("subscribed")
        await client.until(
            lambda: client.names()[subscribed:].count("price-update") >= 4,
            "4 updates after subscribe",
        )
    names = client.names()
    assert names[0] == "connect"
    initial_at = client.index("initial-prices")
    assert "price-update" not in names[:initial_at]
    initial = client.events[initial_at][1]
    assert {update["symbol"] for update in initial} == SYMBOLS
    assert_market_updates(initial)
    assert client.events[subscribed][1] == {
        "ok": True,
        "symbols": ["BTC", "ETH", "SOL"],
        "unknown": [],
    }
    after = [data for name, data in client.events[subscribed:] if name == "price-update"]
    assert_market_updates(after)
    assert {update["symbol"] for update in after} <= SUBSCRIBED


# -- refusals -----------------------------------------------------------------------------------


async def test_socketio_feed_refusals_in_precedence_order(start_server) -> None:
    """Bad, missing or revoked key: "Authentication failed"; a plan without the feed: "Pro
    subscription required"; a third connection of a user (any of its keys): "Connection limit
    exceeded"; the slot comes back when a connection closes."""
    server = await start_server(sources="none")
    url = server.http
    assert await refusal(url, "ci_live_nope") == "Authentication failed"
    assert await refusal(url, None) == "Authentication failed"
    assert await refusal(url, "x" * 500) == "Authentication failed"
    revoked = await server.key("pro", user="gone", prefix="ci_live_")
    record = (await server.node.store.list_keys("gone"))[0]
    assert await server.node.store.revoke_key(record.key_id)
    assert await refusal(url, revoked) == "Authentication failed"
    free = await server.key("free", user="f", prefix="ci_live_")
    assert await refusal(url, free) == "Pro subscription required"

    live = await server.key("pro", user="u", prefix="ci_live_")
    test = await server.key("pro", user="u", prefix="ci_test_")
    other = await server.key("pro", user="u", prefix="ci_live_")
    async with feed_client(url, live), feed_client(url, test) as second:
        assert server.node.limits.count(Pool.FEED, "u") == 2
        assert await refusal(url, other) == "Connection limit exceeded"
        someone_else = await server.key("pro", user="v", prefix="ci_live_")
        async with feed_client(url, someone_else):
            pass
        await second.close()
        await eventually(lambda: server.node.limits.count(Pool.FEED, "u") == 1, "a slot released")
        async with feed_client(url, other):
            assert server.node.limits.count(Pool.FEED, "u") == 2
    await eventually(lambda: server.node.limits.total(Pool.FEED) == 0, "every slot released")
    assert server.node.limits.total(Pool.STREAMS) == 0  # the native pool is separate


@pytest.mark.parametrize(
    ("plan", "message"),
    [(None, "Authentication failed"), ("free", "Pro subscription required")],
)
async def test_socketio_feed_js_refusals(start_server, plan: str | None, message: str) -> None:
    """socket.io-client's connect_error carries the refusal message, and it stops there."""
    server = await start_server(sources="none")
    key = await server.key(plan, user="f", prefix="ci_live_") if plan else "ci_live_nope"
    async with js_example(server.http, key) as client:
        await client.until(lambda: "connect_error" in client.names(), "connect_error")
        assert await asyncio.wait_for(client.process.wait(), 10) == 0
    assert client.events == [("connect_error", {"message": message})]


async def test_socketio_feed_third_js_connection_gets_connection_limit(start_server) -> None:
    """With two connections of the user open, the JavaScript example gets connect_error
    "Connection limit exceeded"."""
    server = await start_server(sources="none")
    keys = [await server.key("pro", user="u", prefix="ci_live_") for _ in range(3)]
    async with feed_client(server.http, keys[0]), feed_client(server.http, keys[1]):
        async with js_example(server.http, keys[2]) as client:
            await client.until(lambda: "connect_error" in client.names(), "connect_error")
            assert await asyncio.wait_for(client.process.wait(), 10) == 0
    assert client.events == [("connect_error", {"message": "Connection limit exceeded"})]


# -- the wire -----------------------------------------------------------------------------------


async def recv(ws: ClientConnection) -> str:
    frame = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(frame, str)
    return frame


async def test_socketio_feed_raw_transcript(start_server) -> None:
    """The frames of the protocol reference: open, CONNECT ack before initial-prices, an
    acknowledged subscribe, a refusal followed by the Engine.IO close."""
    server = await start_server(sources="none")
    await server.node.publish([ticker("btc", 8_725_050), ticker("eth", 310_000)])
    key = await server.key("pro", user="u", prefix="ci_live_")
    url = f"ws://{server.host}:{server.port}/socket.io/?EIO=4&transport=websocket"
    async with connect(url) as ws:
        opened = await recv(ws)
        assert opened[0] == "0"
        assert json.loads(opened[1:]) | {"sid": "x"} == {
            "sid": "x",
            "upgrades": [],
            "pingTimeout": 20000,
            "pingInterval": 25000,
            "maxPayload": 1000000,
        }
        await ws.send('40/api-ws,{"apiKey":"' + key + '"}')
        ack = await recv(ws)
        assert ack.startswith('40/api-ws,{"sid":"')
        initial = await recv(ws)
        assert initial.startswith('42/api-ws,["initial-prices",[')
        prices = json.loads(initial.removeprefix("42/api-ws,"))[1]
        assert [price["symbol"] for price in prices] == ["BTC", "ETH"]
        await ws.send('42/api-ws,7["subscribe",{"symbols":["btc","nope"]}]')
        assert await recv(ws) == '43/api-ws,7[{"ok":true,"symbols":["BTC"],"unknown":["nope"]}]'
        await ws.send('42/api-ws,8["unsubscribe",{"symbols":"BTC"}]')
        assert await recv(ws) == '43/api-ws,8[{"ok":false,"error":"expected {symbols: string[]}"}]'
        await server.node.publish([ticker("eth", 310_100), ticker("btc", 8_725_100)])
        update = await recv(ws)
        assert update.startswith('42/api-ws,["price-update",{"symbol":"BTC","price":87251.0,')

    async with connect(url) as ws:
        await recv(ws)
        await ws.send('40/api-ws,{"apiKey":"nope"}')
        assert await recv(ws) == '44/api-ws,{"message":"Authentication failed"}'
        assert await recv(ws) == "1"  # Engine.IO close (the client then closes the socket)


async def test_socketio_feed_initial_prices_carry_all_20_symbols_from_the_start(
    start_server,
) -> None:
    """The simulator's opening prices are published before the server reports started: a
    client connecting at once gets every symbol, in the feed's order."""
    server = await start_server()
    keeper = server.node.keeper
    assert all(keeper.snapshot(f"ticker:{s.lower()}") for s in SYMBOLS)  # no wait: primed
    key = await server.key("pro", user="u", prefix="ci_live_")
    async with feed_client(server.http, key) as client:
        await eventually(lambda: bool(client.events), "initial-prices")
    name, initial = client.events[0]
    assert name == "initial-prices"
    assert [u["symbol"] for u in initial] == list(FEED_SYMBOLS)
    assert_market_updates(initial)


# -- semantics, on published tickers ------------------------------------------------------------


async def test_socketio_feed_market_update_fields(start_server) -> None:
    """A ticker becomes a MarketUpdate of JSON numbers: volume in USD, timestamp in seconds."""
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")
    async with feed_client(server.http, key) as client:
        await eventually(lambda: bool(client.events), "initial-prices")
        assert client.events == [("initial-prices", [])]
        published = Ticker(
            asset="btc",
            decimals=2,
            price=8_725_050,
            open_24h=8_600_020,
            high_24h=8_800_000,
            low_24h=8_500_000,
            volume_24h=1_432_650_000,
            volume_decimals=5,
            time_ns=1_775_001_601_500_000_000,
        )
        await server.node.publish([published])
        await eventually(lambda: bool(client.updates()), "a price-update")
    assert client.updates() == [
        {
            "symbol": "BTC",
            "price": 87250.5,
            "volume": 1_249_994_288.25,
            "timestamp": 1_775_001_601,
            "change": 1250.3,
            "changePercent": 1.45,
        }
    ]


async def test_socketio_feed_subscribe_and_unsubscribe(start_server) -> None:
    """The full feed until the first subscribe narrows it; later subscribes add, unsubscribe
    removes; unknown symbols are listed in the ack; after an ack nothing else arrives."""
    server = await start_server(sources="none")
    node = server.node
    key = await server.key("pro", user="u", prefix="ci_live_")
    await node.publish([ticker(asset, 100_00) for asset in ("btc", "doge", "sol")])
    async with feed_client(server.http, key) as client:
        await eventually(lambda: bool(client.events), "initial-prices")
        name, initial = client.events[0]
        assert name == "initial-prices"
        assert [update["symbol"] for update in initial] == ["BTC", "DOGE", "SOL"]

        await node.publish([ticker("doge", 101_00)])
        await eventually(lambda: len(client.updates()) == 1, "the DOGE update (full feed)")

        ack = await client.call("subscribe", {"symbols": ["btc", "Eth", "SOL", "NOPE"]})
        assert ack == {"ok": True, "symbols": ["BTC", "ETH", "SOL"], "unknown": ["NOPE"]}
        mark = len(client.events)
        # DOGE comes before SOL in the feed's order: if it were sent, it would arrive first
        await node.publish([ticker("doge", 102_00), ticker("sol", 102_00)])
        await eventually(lambda: len(client.updates(mark)) == 1, "the SOL update")
        assert client.updates(mark)[0]["symbol"] == "SOL"

        ack = await client.call("subscribe", {"symbols": ["doge"]})
        assert ack == {"ok": True, "symbols": ["BTC", "ETH", "DOGE", "SOL"], "unknown": []}
        ack = await client.call("unsubscribe", {"symbols": ["BTC", "DOGE", "XYZ"]})
        assert ack == {"ok": True, "symbols": ["ETH", "SOL"], "unknown": ["XYZ"]}
        ack = await client.call("subscribe", {"symbols": 5})
        assert ack == {"ok": False, "error": "expected {symbols: string[]}"}
        mark = len(client.events)
        await node.publish([ticker("btc", 103_00), ticker("doge", 103_00), ticker("sol", 103_00)])
        await eventually(lambda: len(client.updates(mark)) == 1, "the SOL update")
        assert client.updates(mark)[0]["symbol"] == "SOL"

        # without an acknowledgement (the vendor's style) the request works the same; a client's
        # events are handled in order, so the next acknowledgement shows its effect
        await client.sio.emit("subscribe", {"symbols": ["BTC"]}, namespace=NAMESPACE)
        ack = await client.call("subscribe", {"symbols": []})
        assert ack == {"ok": True, "symbols": ["BTC", "ETH", "SOL"], "unknown": []}
        mark = len(client.events)
        await node.publish([ticker("btc", 104_00)])
        await eventually(lambda: len(client.updates(mark)) == 1, "the BTC update")


async def test_socketio_feed_long_polling(start_server) -> None:
    """Clients without the websocket transport use HTTP long-polling at the same path."""
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")
    await server.node.publish([ticker("eth", 3100_00)])
    async with feed_client(server.http, key, transport="polling") as client:
        assert client.sio.transport() == "polling"
        await eventually(lambda: bool(client.events), "initial-prices")
        assert client.events[0][0] == "initial-prices"
        ack = await client.call("subscribe", {"symbols": ["ETH"]})
        assert ack == {"ok": True, "symbols": ["ETH"], "unknown": []}
        await server.node.publish([ticker("btc", 87_000_00), ticker("eth", 3101_00)])
        await eventually(lambda: bool(client.updates()), "an update")
        assert [update["symbol"] for update in client.updates()] == ["ETH"]
        assert client.updates()[0]["price"] == 3101.0


async def test_socketio_feed_conflates_for_plans_with_conflation_ms(start_server) -> None:
    """A plan with conflation_ms gets at most one update per symbol per interval, the newest;
    a plan without gets every update."""
    server = await start_server(sources="none")
    node = server.node
    slow = await server.key("pro", user="slow", prefix="ci_live_")
    await node.store.set_user_overrides("slow", {"conflation_ms": 500})
    fast = await server.key("pro", user="fast", prefix="ci_live_")
    async with feed_client(server.http, slow) as conflated, feed_client(server.http, fast) as live:
        await eventually(lambda: bool(conflated.events and live.events), "initial-prices")
        start = asyncio.get_running_loop().time()
        for step in range(30):  # 30 updates over about 1.5 s
            await node.publish([ticker("btc", 80_000_00 + step)])
            await asyncio.sleep(0.05)
        elapsed = asyncio.get_running_loop().time() - start
        await eventually(lambda: len(live.updates()) == 30, "every update (no conflation)")
        await eventually(
            lambda: bool(conflated.updates()) and conflated.updates()[-1]["price"] == 80_000.29,
            "the newest price, conflated",
        )
    assert [update["price"] for update in live.updates()] == [
        80_000 + step / 100 for step in range(30)
    ]
    prices = [update["price"] for update in conflated.updates()]
    assert prices == sorted(set(prices))  # newest values only, never repeated
    assert 2 <= len(prices) <= elapsed / 0.5 + 2


# -- control plane, metering, test keys, shutdown -----------------------------------------------


async def test_socketio_feed_connections_listed_closed_and_metered(start_server) -> None:
    """The control plane lists a feed connection and closes it (namespace disconnect: the
    client does not reconnect); usage is metered per key."""
    server = await start_server(sources="none")
    await server.node.publish([ticker("btc", 87_000_00)])
    key = await server.key("pro", user="u", prefix="ci_live_")
    admin = {"X-API-Key": server.admin_key}
    async with feed_client(server.http, key) as client, httpx.AsyncClient() as http:
        await eventually(lambda: bool(client.events), "initial-prices")
        await client.call("subscribe", {"symbols": ["BTC", "ETH"]})
        listed = (await http.get(f"{server.http}/api/v1/connections", headers=admin)).json()
        (connection,) = [c for c in listed if c["dialect"] == "socketio-feed"]
        assert connection["user"] == "u"
        assert connection["subscriptions"] == ["ticker:btc", "ticker:eth"]
        assert connection["messages"] == 1 and connection["bytes"] > 0
        url = f"{server.http}/api/v1/connections/{connection['id']}"
        assert (await http.delete(url, headers=admin)).status_code in (200, 204)
        await eventually(lambda: bool(client.disconnects), "the disconnect")
        assert client.disconnects == ["server disconnect"]
        await eventually(lambda: not client.sio.connected, "the client gives up")
    assert server.node.limits.total(Pool.FEED) == 0
    assert not server.node.connections
    record = (await server.node.store.list_keys("u"))[0]
    usage = server.node.meter.snapshot()[record.key_id]
    assert usage.connections == 1 and usage.messages == 1 and usage.connection_seconds > 0


async def test_socketio_feed_test_keys_see_simulated_symbols_only(start_server) -> None:
    """A ci_test_ key receives the symbols of simulated assets only; a live key every one."""
    server = await start_server(sources="none")
    await server.node.publish([ticker("btc", 87_000_00)])  # not simulated: published
    live = await server.key("pro", user="u", prefix="ci_live_")
    test = await server.key("pro", user="u", prefix="ci_test_")
    async with feed_client(server.http, live) as real, feed_client(server.http, test) as sim:
        await eventually(lambda: bool(real.events and sim.events), "initial-prices")
        assert [update["symbol"] for update in real.events[0][1]] == ["BTC"]
        assert sim.events == [("initial-prices", [])]
        assert await sim.call("subscribe", {"symbols": ["BTC"]}) == {
            "ok": True,
            "symbols": [],
            "unknown": ["BTC"],
        }


async def test_socketio_feed_restart_drops_sessions_so_clients_reconnect(start_server) -> None:
    """Closing every connection for a restart drops the Engine.IO transport without a close
    packet and releases the slots; while the node is not ready handshakes fail at the
    transport; both clients keep retrying and are back once it is ready."""
    server = await start_server(sources="none")
    node = server.node
    keys = [await server.key("pro", user="u", prefix="ci_live_") for _ in range(2)]
    python = FeedClient(reconnection=True)
    await python.connect(server.http, keys[0])
    try:
        async with js_example(server.http, keys[1]) as js:
            await js.until(lambda: "initial-prices" in js.names(), "initial-prices")
            await eventually(lambda: bool(python.events), "initial-prices")
            await node.close_connections(1012, "server restart")
            await js.until(lambda: "disconnect" in js.names(), "the disconnect")
            await eventually(lambda: bool(python.disconnects), "the disconnect")
            assert node.limits.total(Pool.FEED) == 0 and not node.connections
            async with httpx.AsyncClient() as http:
                response = await http.get(f"{server.http}/socket.io/?EIO=4&transport=polling")
            assert response.status_code == 503
            node.ready = True  # as a restarted server would be
            await js.until(lambda: js.names().count("initial-prices") == 2, "reconnected")
            await eventually(
                lambda: [name for name, _ in python.events].count("initial-prices") == 2,
                "the python client reconnected",
            )
    finally:
        await python.close()
    assert js.events[js.index("disconnect")][1] == {"reason": "transport close"}
    assert python.disconnects[0] == "transport error"


async def test_socketio_feed_drops_slow_consumers(start_server, monkeypatch) -> None:
    """A client with more packets queued than the bound loses its session (and reconnects)."""
    server = await start_server(sources="none")
    key = await server.key("pro", user="u", prefix="ci_live_")
    client = FeedClient()
    await client.connect(server.http, key)
    await eventually(lambda: bool(client.events), "initial-prices")
    monkeypatch.setattr(server_feed, "SLOW_CONSUMER_PACKETS", -1)  # everyone is too slow
    # the bound is checked where packets are queued and before a connection is promoted to
    # direct writes; a selection change puts the connection back on its queue
    await client.call("subscribe", {"symbols": ["BTC"]})
    await eventually(lambda: bool(client.disconnects), "the drop", timeout=5)
    assert client.disconnects == ["transport error"]
    assert server.node.limits.total(Pool.FEED) == 0
    await client.close()
