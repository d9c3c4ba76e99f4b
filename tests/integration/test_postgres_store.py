"""The server on a PostgreSQL store (real server from tests/postgres_server.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest
from tests.integration.wire import recv, recv_until
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
