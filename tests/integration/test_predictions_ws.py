"""/ws prediction service against a real server, with the `websockets` client library.

The model is trained from a CSV with the `tickcast models train` CLI (a separate process) into
the running server's data dir, as an operator would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import RunningServer, ServerFactory
from tests.integration.cm_dialect.helpers import wait_for
from tests.integration.predictions_helpers import (
    authenticated,
    recv_json,
    request,
    train_in_process,
    train_with_cli,
    vendor_sample_loop,
    write_csv,
    ws_url,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

USER = "user-pro"


@pytest.fixture
async def served(start_server: ServerFactory, tmp_path: Path) -> tuple[RunningServer, str, str]:
    """A server, a pro key, and the vendor's example model (trained in this process)."""
    server = await start_server()
    key = await server.key("pro", USER)
    train_in_process(server.node.config.data_dir, write_csv(tmp_path / "train.csv"), user=USER)
    return server, key, ws_url(server.http)


async def test_documented_request_is_answered_in_order(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """A model trained with the CLI answers the vendor's documented request: auth reply, then
    one reply per request in order with seq_num from 1; the first use of a model says "New
    model configuration added", later ones "Existing model data"."""
    server = await start_server()
    key = await server.key("pro", USER)
    output = train_with_cli(
        server.node.config.data_dir, write_csv(tmp_path / "train.csv"), user=USER
    )
    assert "v1" in output and "accuracy=" in output
    url = ws_url(server.http)
    ws = await authenticated(url, key)
    async with ws:
        points = [{"point1": 3, "point2": 2}, {"point1": 1, "point2": 3}]
        for _ in range(3):
            await ws.send(request(key, points))
        replies = [await recv_json(ws) for _ in range(3)]
    assert replies[0] == {
        "type": "success",
        "seq_num": 1,
        "message": "New model configuration added, prediction made",
        "prediction": "sell",
        "predictions": ["buy", "sell"],
    }
    assert [r["seq_num"] for r in replies] == [1, 2, 3]
    assert {r["message"] for r in replies[1:]} == {"Existing model data used for prediction"}


async def test_vendor_sample_loop_keeps_running(served: tuple[RunningServer, str, str]) -> None:
    """The vendor's loop re-sends the raw key every second (its "valid" check never matches);
    each time it gets the documented success object and the connection stays open."""
    server, key, url = served
    replies: list[dict[str, Any]] = []
    task = asyncio.create_task(vendor_sample_loop(url, key, replies))
    deadline = time.monotonic() + 10
    while len(replies) < 3 and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not task.done(), task.exception() if task.done() else None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert replies[:3] == [{"status": "success", "message": "Valid API key."}] * 3


async def test_wrong_data_points_get_an_error_and_the_connection_stays(
    served: tuple[RunningServer, str, str],
) -> None:
    server, key, url = served
    ws = await authenticated(url, key)
    async with ws:
        await ws.send(request(key, [{"point1": 3}]))
        missing = await recv_json(ws)
        await ws.send(request(key, [{"point1": 3, "point2": "x"}]))
        not_number = await recv_json(ws)
        await ws.send(request(key, [[1, 2, 3]]))
        too_many = await recv_json(ws)
        await ws.send("not json")
        bad_json = await recv_json(ws)
        await ws.send(request(key, [{"point1": 3, "point2": 2}], model_name="Nope"))
        unknown = await recv_json(ws)
        await ws.send(request("someone-else", [{"point1": 3, "point2": 2}]))
        wrong_key = await recv_json(ws)
        await ws.send(request(key, [[3, 2]]))
        fine = await recv_json(ws)
    assert missing == {
        "type": "error",
        "seq_num": 1,
        "message": "DataPoints[0] must have the 2 features used in training "
        "(point1, point2): missing point2.",
    }
    assert not_number["message"] == "DataPoints[0].point2 must be a number."
    assert too_many["message"].startswith("DataPoints[0] must have the 2 features")
    assert bad_json == {"type": "error", "seq_num": 4, "message": "Invalid JSON."}
    assert unknown == {
        "type": "error",
        "seq_num": 5,
        "message": "Model configuration not found in the backend.",
    }
    assert wrong_key == {"type": "error", "seq_num": 6, "message": "Invalid API key."}
    assert fine["type"] == "success" and fine["seq_num"] == 7 and fine["prediction"] == "buy"


@pytest.mark.parametrize("first", ["tc_live_nosuchkey0000000000000000", "", '{"a":1}', b"\x00"])
async def test_bad_first_frame_is_refused_and_closed(
    start_server: ServerFactory, first: str | bytes
) -> None:
    server = await start_server()
    async with connect(ws_url(server.http)) as ws:
        await ws.send(first)
        assert await recv_json(ws) == {"status": "error", "message": "Invalid API key."}
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008 and ws.close_reason == "Invalid API key."


async def test_auth_timeout(start_server: ServerFactory) -> None:
    server = await start_server(predictions_auth_timeout=0.3)
    async with httpx.AsyncClient(base_url=server.http) as http:
        plain = await http.get("/ws")  # not an upgrade: documented in OpenAPI as 101/400
        assert plain.status_code == 400 and "UPGRADE" in plain.json()["message"]
        assert "/ws" in (await http.get("/openapi.json")).json()["paths"]
    async with connect(ws_url(server.http)) as ws:
        started = time.monotonic()
        assert await recv_json(ws) == {"status": "error", "message": "Invalid API key."}
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert time.monotonic() - started >= 0.25
    assert ws.close_code == 1008


async def test_plan_and_connection_limit(start_server: ServerFactory) -> None:
    server = await start_server()
    free = await server.key("free", "ann")
    async with connect(ws_url(server.http)) as ws:
        await ws.send(free)
        assert await recv_json(ws) == {
            "status": "error",
            "message": "Plan does not include websocket predictions.",
        }
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008
    await server.node.store.ensure_user("bob", "pro")
    await server.node.store.set_user_overrides("bob", {"max_prediction_connections": 1})
    bob, _ = await server.node.store.create_key(user="bob")
    first = await authenticated(ws_url(server.http), bob)
    async with first, connect(ws_url(server.http)) as second:
        await second.send(bob)
        assert await recv_json(second) == {
            "status": "error",
            "message": "Connection limit exceeded.",
        }
        await first.send(bob)  # the first connection is unaffected
        assert (await recv_json(first))["status"] == "success"
    # the slot is released when the first connection closes
    async with await authenticated(ws_url(server.http), bob):
        pass


async def test_fifty_connections_on_one_key_each_metered_listed_and_closable(
    served: tuple[RunningServer, str, str],
) -> None:
    """The built-in plans take any number of /ws connections (the original service: "any number
    of connections can be made but the usage charge will occur for each connection made"):
    50 on one pro key (its max_connections is 10) each predict, the owner sees 50 in the control
    plane and closes one, and usage counts 50 connections and 50 predictions."""
    server, key, url = served
    count = 50
    sockets = list(await asyncio.gather(*(authenticated(url, key) for _ in range(count))))
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=server.http, headers=headers) as http:
        try:
            for ws in sockets:
                await ws.send(request(key, [{"point1": 3, "point2": 2}]))
            replies = [await recv_json(ws) for ws in sockets]
            assert [r["type"] for r in replies] == ["success"] * count
            listed = (await http.get("/api/v1/predictions/connections")).json()
            assert len(listed) == count and {c["predictions"] for c in listed} == {1}
            closed = await http.delete(f"/api/v1/predictions/connections/{listed[0]['id']}")
            assert closed.status_code == 204
            await wait_for(lambda: len(server.node.connections) == count - 1)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
        assert sum(ws.close_code == 1008 for ws in sockets) == 1  # the one the owner closed
        await wait_for(lambda: not server.node.connections)
        (usage,) = (await http.get("/api/v1/usage")).json()
    assert usage["connections"] == count and usage["predictions"] == count
    assert usage["connection_seconds"] > 0


async def test_connections_listed_with_usage_and_closed_by_operator(
    served: tuple[RunningServer, str, str],
) -> None:
    server, key, url = served
    ws = await authenticated(url, key)
    async with ws, httpx.AsyncClient(base_url=server.http) as http:
        for _ in range(2):
            await ws.send(request(key, [{"point1": 1, "point2": 0}]))
            assert (await recv_json(ws))["type"] == "success"
        mine = await http.get("/api/v1/predictions/connections", headers={"X-API-Key": key})
        assert mine.status_code == 200
        [connection] = mine.json()
        assert connection["user"] == USER and connection["requests"] == 2
        assert connection["predictions"] == 2 and connection["connection_seconds"] >= 0
        other = await server.key("pro", "mallory")
        theirs = await http.get("/api/v1/predictions/connections", headers={"X-API-Key": other})
        assert theirs.json() == []
        admin = {"X-API-Key": server.admin_key}
        everyone = await http.get("/api/v1/connections", headers=admin)
        assert connection["id"] in {c["id"] for c in everyone.json()}
        closed = await http.delete(
            f"/api/v1/predictions/connections/{connection['id']}", headers=admin
        )
        assert closed.status_code == 204
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008 and ws.close_reason == "closed by operator"


async def test_idle_connections_own_no_task(served: tuple[RunningServer, str, str]) -> None:
    """After the key, a /ws connection is driven by callbacks (like native ones): no ASGI task
    or per-connection task stays alive while it is idle, requests sent back to back are still
    answered in order, and closing unregisters it."""
    server, key, url = served
    clients = [await authenticated(url, key) for _ in range(6)]
    try:
        await wait_for(lambda: len(server.node.connections) == 6)
        await asyncio.sleep(0.1)
        server_side = [
            name
            for task in asyncio.all_tasks()
            if (name := getattr(task.get_coro(), "__qualname__", ""))
            and ("run_asgi" in name or "PredictionConnection" in name)
        ]
        assert server_side == []
        for _ in range(5):
            await clients[0].send(request(key, [{"point1": 1, "point2": 2}]))
        replies = [await recv_json(clients[0]) for _ in range(5)]
        assert [r["seq_num"] for r in replies] == [1, 2, 3, 4, 5]
        assert all(r["type"] == "success" for r in replies)
    finally:
        for ws in clients:
            await ws.close()
    await wait_for(lambda: not server.node.connections)
