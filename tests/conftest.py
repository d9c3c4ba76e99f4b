"""Shared fixtures: a real tickcast server on a random loopback port, in this test's loop."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from tests.postgres_server import PostgresServer, create_database, start_postgres
from tests.redis_server import RedisServer

from tickcast.app.build import build_app
from tickcast.app.registry import DIALECTS
from tickcast.app.run import TickcastServer, uvicorn_config
from tickcast.config import load
from tickcast.server.node import Node


@dataclass
class RunningServer:
    host: str
    port: int
    node: Node
    admin_key: str
    app: FastAPI
    """The ASGI app, for tests that control a part's clock (e.g. a rate-limit window)."""
    uvicorn: TickcastServer | None = None
    """The uvicorn server (e.g. for ``reload_tls``)."""

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/api/v1/ws"

    async def key(self, plan: str = "pro", user: str | None = None, **kwargs: Any) -> str:
        user = user or f"user-{plan}"
        await self.node.store.ensure_user(user, plan)
        key, _ = await self.node.store.create_key(user=user, **kwargs)
        return key


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def start_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """Start servers with config overrides; every one is stopped at the end of the test.

    With ``TICKCAST_TEST_BUS=redis`` in the environment every server uses the session's
    redis-server as its bus (run any dialect's tests against the Redis bus)."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    started: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        if os.environ.get("TICKCAST_TEST_BUS") == "redis" and "bus" not in overrides:
            overrides["bus"] = request.getfixturevalue("redis_url")
        overrides.setdefault("data_dir", str(tmp_path / f"data{len(running)}"))
        overrides.setdefault("log_level", "warning")
        dialects = overrides.pop("dialects", DIALECTS)  # the registry unless a test gives one
        config = load(environ={}, overrides=overrides)
        app = build_app(config, announce=False, dialects=dialects)
        server = TickcastServer(uvicorn_config(config, app), node=app.state.node)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        running.append((server, task))
        for _ in range(1000):
            if server.started:
                break
            if task.done():
                task.result()
                raise RuntimeError("server exited during start")
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("server did not start within 10 s")
        node: Node = app.state.node
        # A second node on a store shared with a first one creates no development key.
        shared = "store" in overrides or any(
            r.node.config.data_dir == config.data_dir for r in started
        )
        assert node.development_key is not None or shared
        server_info = RunningServer(
            "127.0.0.1", port, node, node.development_key or "", app, uvicorn=server
        )
        started.append(server_info)
        return server_info

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, task in running:
        await asyncio.wait_for(task, timeout=15)


class SamePortServers:
    """Servers started one after another on the same loopback port (a server restart)."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started = 0
        self.port = 0
        self._current: tuple[uvicorn.Server, asyncio.Task[None]] | None = None

    async def start(self, **overrides: Any) -> RunningServer:
        overrides.setdefault("data_dir", str(self._tmp_path / f"restart{self._started}"))
        overrides.setdefault("log_level", "warning")
        self._started += 1
        config = load(environ={}, overrides=overrides)
        app = build_app(config, announce=False)
        server = TickcastServer(uvicorn_config(config, app), node=app.state.node)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self._current = (server, task)
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server exited during start")
                await asyncio.sleep(0.01)
        node: Node = app.state.node
        assert node.development_key is not None
        return RunningServer("127.0.0.1", self.port, node, node.development_key, app)

    async def stop(self) -> None:
        if self._current is None:
            return
        server, task = self._current
        self._current = None
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


@pytest.fixture
async def same_port_servers(tmp_path: Path) -> AsyncIterator[SamePortServers]:
    """Start, stop and start again a server on one port; the last one is stopped at the end."""
    servers = SamePortServers(tmp_path)
    yield servers
    await servers.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server per session, on a random loopback port; fails if it cannot."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new empty database for this test."""
    return await create_database(postgres_server)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (fails, never skips, if it cannot start)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's redis-server, emptied for this test."""
    redis_server.flush()
    return redis_server.url
