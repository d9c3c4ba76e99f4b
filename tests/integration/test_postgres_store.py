"""The server on a PostgreSQL store (real server from tests/postgres_server.py)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from tests.integration.wire import recv, recv_until
from tests.postgres_server import PostgresServer, start_postgres
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tickcast.auth.plans import load_plans
from tickcast.clock import ManualClock
from tickcast.storage.postgres import PostgresStore

STREAM = "trades:binance-btc-usdt-spot"


async def test_server_on_postgresql_keys_native_client_and_usage(
    start_server, postgres_url: str
) -> None:
    """A key made through the control plane lets a native client in; another node sees the
    same key, its usage and its revocation."""
    server = await start_server(store=postgres_url)
    assert isinstance(server.node.store, PostgresStore)
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:
        created_user = await http.post("/api/v1/users", json={"name": "bob", "plan": "pro"})
        assert created_user.status_code == 201
        created = (await http.post("/api/v1/keys", json={"user": "bob"})).json()
        key, key_id = created["key"], created["key_id"]
        async with connect(
            f"{server.ws}?streams={STREAM}", additional_headers={"X-API-Key": key}
        ) as ws:
            assert (await recv(ws))["type"] == "Subscribed"
            update, _ = await recv_until(ws, lambda m: m["type"] == "Update", timeout=15)
            assert update["stream"] == STREAM
        await server.node.flush_usage()
        async with PostgresStore(
            url=postgres_url, plans=load_plans(), clock=ManualClock()
        ) as other:
            principal = await other.authenticate(key)
            assert principal is not None and (principal.user, principal.plan.name) == ("bob", "pro")
            usage = (await other.usage(key_id))[key_id]
            assert usage.connections == 1 and usage.messages >= 2
            assert (await http.delete(f"/api/v1/keys/{key_id}")).status_code == 204
            assert await other.authenticate(key) is None
        listed = (await http.get("/api/v1/keys", params={"user": "bob"})).json()
        assert [k["key_id"] for k in listed] == [key_id] and key not in json.dumps(listed)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws, additional_headers={"X-API-Key": key}):
            pass
    assert refused.value.response.status_code == 400


def test_cli_serve_with_store_flag(tmp_path, postgres_url: str) -> None:
    """`tickcast serve --store postgresql://...` migrates the database and serves from it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tickcast.cli.main", "serve", "--port", "0", "--source", "none"]
        + ["--data-dir", str(tmp_path), "--store", postgres_url, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        listening = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", listening)
        assert match, f"unexpected first line {listening!r}"
        key = server.stdout.readline().rsplit(" ", 1)[-1].strip()
        assert key.startswith("tc_live_")
        keys = httpx.get(
            f"http://127.0.0.1:{match.group(1)}/api/v1/keys",
            headers={"X-API-Key": key},
            timeout=10,
        )
        assert keys.status_code == 200 and [k["user"] for k in keys.json()] == ["dev"]
        assert not list(tmp_path.glob("*.sqlite3"))
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode in (0, -15)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to stop and restart (requested before
    start_server, so the tickcast server stops first)."""
    server = start_postgres()
    yield server
    server.stop()


async def test_store_outage_refuses_new_clients_then_recovers(
    own_postgres: PostgresServer, start_server
) -> None:
    """While PostgreSQL is down: new native clients get §7's HTTP 500 body, the control plane
    answers 503, connected clients keep streaming, usage is kept; once it is back, clients get in
    and the usage is written."""
    server = await start_server(store=own_postgres.url())
    key = await server.key("pro")
    key_id = (await server.node.store.list_keys("user-pro"))[0].key_id
    headers = {"X-API-Key": key}
    async with connect(f"{server.ws}?streams={STREAM}", additional_headers=headers) as ws:
        assert (await recv(ws))["type"] == "Subscribed"
        await asyncio.to_thread(own_postgres.stop, remove=False)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 500
        assert json.loads(refused.value.response.body) == {
            "status_code": 2000,
            "message": "Internal server error",
        }
        admin = {"X-API-Key": server.admin_key}
        async with httpx.AsyncClient(base_url=server.http, headers=admin) as http:
            unavailable = await http.get("/api/v1/keys")
        assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "1"
        assert unavailable.json() == {"status_code": 2000, "message": "Internal server error"}
        await server.node.flush_usage()  # fails, keeps the counters
        await recv_until(ws, lambda m: m["type"] == "Update", timeout=15)
    await asyncio.to_thread(own_postgres.restart)
    async with asyncio.timeout(20):
        while True:  # the pool replaces its broken connections as they are used
            try:
                async with connect(
                    f"{server.ws}?streams={STREAM}", additional_headers=headers
                ) as ws:
                    assert (await recv(ws))["type"] == "Subscribed"
                    break
            except InvalidStatus as exc:
                assert exc.response.status_code == 500
                await asyncio.sleep(0.1)
    await server.node.flush_usage()
    usage = (await server.node.store.usage(key_id))[key_id]
    assert usage.connections >= 2 and usage.messages >= 2
