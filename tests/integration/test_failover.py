"""Scale-out end to end: an ingest node and two gateways (separate ``tickcast serve`` processes)
sharing a real redis-server. A gateway killed with SIGKILL: its client resumes on the other one
with no gap and no duplicate; the Socket.IO feed's 2-connection limit holds across gateways."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis.asyncio
import socketio
from tests.integration.nodes import NodeProcess, create_key
from tests.integration.test_socketio_feed import FeedClient, refusal
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tickcast.client.books import LocalBook
from tickcast.client.messages import Snapshot, Update, parse_message

MARKET = "binance-btc-usdt-spot"
BOOK = f"book:{MARKET}"
TRADES = f"trades:{MARKET}"
LEASE = 1.5

Started = Callable[[str, list[str]], NodeProcess]


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Started]:
    """Start ``tickcast serve`` nodes on the shared bus and data dir; all stopped at the end."""
    nodes: list[NodeProcess] = []
    env = {"TICKCAST_LEASE_SECONDS": str(LEASE), "TICKCAST_BUS": redis_url}

    def start(name: str, args: list[str]) -> NodeProcess:
        node = NodeProcess(name, tmp_path, ["--data-dir", str(tmp_path / "data"), *args], env)
        nodes.append(node)
        return node

    try:
        yield start
    finally:
        for node in nodes:
            node.stop()


def start_cluster(start: Started, rate: int = 300) -> tuple[NodeProcess, NodeProcess, NodeProcess]:
    ingest = start("ingest", ["--role", "ingest", "--source", f"simulator:rate={rate}"])
    gateways = start("gateway-a", ["--role", "gateway"]), start("gateway-b", ["--role", "gateway"])
    for node in (ingest, *gateways):
        node.wait_healthy()
    return ingest, *gateways


class Recorder:
    """Every data message of one client across connections, with a local book it verifies."""

    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {BOOK: [], TRADES: []}
        self.epochs: dict[str, str] = {}
        self.book = LocalBook(BOOK)
        self.problems: list[str] = []

    def take(self, text: str | bytes) -> None:
        message: dict[str, Any] = json.loads(text)
        kind = message["type"]
        if kind == "Subscribed":
            for position in message["streams"]:
                self.epochs.setdefault(position["stream"], position["epoch"])
                if self.epochs[position["stream"]] != position["epoch"]:
                    self.problems.append(f"epoch changed: {position}")
        elif kind in ("Snapshot", "Update"):
            parsed = parse_message(text)
            assert isinstance(parsed, Snapshot | Update)
            self.seqs[message["stream"]].append(message["seq"])
            if message["stream"] == BOOK and self.book.apply(parsed) is not None:
                self.problems.append(f"checksum mismatch at {message['seq']}")
            if kind == "Snapshot" and message.get("reset"):
                self.problems.append(f"reset snapshot: {message['stream']}")
        elif kind != "Pong":
            self.problems.append(f"unexpected {message}")

    def resume_from(self) -> dict[str, dict[str, object]]:
        return {s: {"epoch": self.epochs[s], "seq": seqs[-1]} for s, seqs in self.seqs.items()}

    async def read(self, ws: ClientConnection, until: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not until():
                self.take(await ws.recv())


async def test_client_resumes_on_another_gateway_without_gap_or_duplicate(
    cluster: Started, tmp_path: Path
) -> None:
    _, gateway_a, gateway_b = start_cluster(cluster, rate=1500)
    key = create_key(tmp_path / "data", "trader", "pro")
    recorder = Recorder()
    headers = {"X-API-Key": key}
    async with connect(f"{gateway_a.ws}?streams={BOOK},{TRADES}", additional_headers=headers) as ws:
        await recorder.read(ws, lambda: len(recorder.seqs[BOOK]) >= 20 and recorder.seqs[TRADES])
        gateway_a.kill()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    recorder.take(await ws.recv())
    before = {stream: len(seqs) for stream, seqs in recorder.seqs.items()}
    async with connect(gateway_b.ws, additional_headers=headers) as ws:
        subscribe = {"type": "Subscribe", "id": 1, "streams": [BOOK, TRADES]}
        await ws.send(json.dumps({**subscribe, "from": recorder.resume_from()}))
        await recorder.read(
            ws,
            lambda: (
                len(recorder.seqs[BOOK]) >= before[BOOK] + 20
                and len(recorder.seqs[TRADES]) >= before[TRADES] + 2
            ),
        )
    assert recorder.problems == []
    for stream, seqs in recorder.seqs.items():
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"{stream} not dense: {seqs}"


async def until_counted(redis_url: str, user: str, count: int) -> None:
    """Wait until the nodes' lease hashes in Redis hold ``count`` feed connections of ``user``
    (each change is announced to the other nodes by the same script that writes it)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(10):
            while True:
                keys = [k async for k in client.scan_iter(match="tc:conn:feed:*")]
                values = [await client.hget(k, user) for k in keys if not k.endswith(b":nodes")]
                if sum(int(v) for v in values if v is not None) == count:
                    return
                await asyncio.sleep(0.01)
    finally:
        await client.aclose()


async def test_connection_limits_hold_across_gateways(
    cluster: Started, tmp_path: Path, redis_url: str
) -> None:
    """The pro plan's 10 native connections are 10 across A and B. Two feed connections of a
    user on A and B, a third refused on either; once A dies with SIGKILL its connection stops
    counting within the lease (4/3 x 1.5 s) and B admits one."""
    _, gateway_a, gateway_b = start_cluster(cluster)
    native_key = create_key(tmp_path / "data", "native", "pro")
    headers = {"X-API-Key": native_key}
    async with contextlib.AsyncExitStack() as stack:
        for gateway in [gateway_a, gateway_b] * 5:
            await stack.enter_async_context(connect(gateway.ws, additional_headers=headers))
        for gateway in (gateway_a, gateway_b):
            with pytest.raises(InvalidStatus) as refused:
                await connect(gateway.ws, additional_headers=headers)
            assert json.loads(refused.value.response.body)["status_code"] == 1007

    key = create_key(tmp_path / "data", "feeder", "pro")
    clients: list[FeedClient] = []
    try:
        for gateway in (gateway_a, gateway_b):
            client = FeedClient()
            await client.connect(gateway.http, key)
            clients.append(client)
        await until_counted(redis_url, "feeder", 2)
        for gateway in (gateway_a, gateway_b, gateway_b, gateway_a):
            assert await refusal(gateway.http, key) == "Connection limit exceeded"
        gateway_a.kill()
        loop = asyncio.get_running_loop()
        killed = loop.time()
        # the dead node's lease runs out in Redis itself (PEXPIRE, Redis time): its slot is gone
        # within one lease of the kill, whatever the load on the gateways and on this test
        await until_counted(redis_url, "feeder", 1)
        expired = loop.time() - killed
        assert expired <= LEASE + 1, f"the dead gateway's lease lasted {expired:.2f} s"
        # B's view follows at its next heartbeat (every lease / 3): wait for that condition,
        # bounded by attempts, not by a wall clock that a loaded machine can outrun
        for _ in range(100):
            client = FeedClient()
            try:
                await client.connect(gateway_b.http, key)
                clients.append(client)
                print(f"dead gateway's slot freed after {loop.time() - killed:.2f} s")
                break
            except socketio.exceptions.ConnectionError:
                assert client.errors == [{"message": "Connection limit exceeded"}]
                await asyncio.sleep(LEASE / 3)
        else:
            pytest.fail("gateway B never admitted the dead gateway's slot")
        assert await refusal(gateway_b.http, key) == "Connection limit exceeded"
    finally:
        for client in clients:
            if client.sio.connected:
                await client.close()


async def test_workers_share_one_port(cluster: Started, tmp_path: Path) -> None:
    """``--workers 2``: two processes accept on one port (SO_REUSEPORT) and both serve clients
    from the shared bus; SIGTERM stops them all."""
    node = cluster("workers", ["--workers", "2", "--source", "simulator:rate=600"])
    node.wait_healthy()
    keys = [create_key(tmp_path / "data", user, "pro") for user in ("many", "more")]
    parent = psutil.Process(node.process.pid)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                connect(f"{node.ws}?streams={TRADES}", additional_headers={"X-API-Key": key})
            )
            for key in keys * 8  # the pro plan's limit of 10 is cluster-wide
        ]
        for ws in sockets:
            assert json.loads(await ws.recv())["type"] == "Subscribed"
        for ws in sockets:
            update = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert (update["type"], update["stream"]) == ("Update", TRADES)
        children = [c for c in parent.children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(children) == 2
        serving = [
            child
            for child in children
            if any(
                c.status == psutil.CONN_ESTABLISHED and c.laddr.port == node.port
                for c in child.net_connections("tcp")
            )
        ]
        assert len(serving) == 2, "the kernel gave every connection to one worker"
    node.process.terminate()
    assert node.process.wait(timeout=20) == 0
    assert not any(child.is_running() and child.status() != "zombie" for child in children)
