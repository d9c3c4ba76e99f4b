"""TLS on the one port (``tls_cert``/``tls_key``): every dialect's client over https/wss with a CA
made in the test, and a certificate reload on SIGHUP that keeps open connections."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from tests.conftest import RunningServer, ServerFactory
from tests.integration.cm_dialect.helpers import run_streams, wait_for
from tests.integration.nodes import NodeProcess, create_key
from tests.integration.predictions_helpers import recv_json
from tests.integration.test_socketio_feed import js_example
from tests.integration.test_vega_sample import sample
from tests.integration.tls_ca import CertificateAuthority, peer_serial
from websockets.asyncio.client import ClientConnection, connect

from tickcast.client import Client


@pytest.fixture
async def tls(
    start_server: ServerFactory, tmp_path: Path
) -> tuple[RunningServer, CertificateAuthority, Path]:
    ca = CertificateAuthority.create(tmp_path)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    ca.issue(cert, key, serial=1)
    server = await start_server(tls_cert=str(cert), tls_key=str(key))
    return server, ca, tmp_path


def https(server: RunningServer) -> str:
    return f"https://{server.host}:{server.port}"


def wss(server: RunningServer, path: str) -> str:
    return f"wss://{server.host}:{server.port}{path}"


async def native(server: RunningServer, ca: CertificateAuthority) -> ClientConnection:
    headers = {"X-API-Key": server.admin_key}
    return await connect(
        wss(server, "/api/v1/ws"), ssl=ca.client_context(), additional_headers=headers
    )


async def ping(ws: ClientConnection, ident: int) -> None:
    await ws.send(json.dumps({"type": "Ping", "id": ident}))
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "Pong":
            assert message["id"] == ident
            return


async def test_https_wss_native_predictions_and_sdk(
    tls: tuple[RunningServer, CertificateAuthority, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca, _ = tls
    async with httpx.AsyncClient(verify=ca.client_context()) as http:
        assert (await http.get(f"{https(server)}/healthz")).json() == {"status": "ok"}
    async with httpx.AsyncClient() as plain:  # the port speaks TLS only
        with pytest.raises(httpx.HTTPError):
            await plain.get(f"http://{server.host}:{server.port}/healthz")
    async with await native(server, ca) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 1,
                                  "streams": ["trades:binance-btc-usdt-spot"]}))  # fmt: skip
        assert json.loads(await ws.recv())["type"] == "Subscribed"
        await ping(ws, 2)
    async with connect(wss(server, "/ws"), ssl=ca.client_context()) as ws:
        await ws.send(server.admin_key)
        assert await recv_json(ws) == {"status": "success", "message": "Valid API key."}
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))  # the SDK uses the default context
    async with Client(wss(server, ""), server.admin_key, reconnect=False) as client:
        assert client.url.startswith("wss://") and await client.ping() >= 0


async def test_socketio_feed_over_tls(
    tls: tuple[RunningServer, CertificateAuthority, Path],
) -> None:
    server, ca, _ = tls
    key = await server.key("pro", user="u", prefix="ci_live_")
    received: list[Any] = []
    connector = aiohttp.TCPConnector(ssl=ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        sio = socketio.AsyncClient(http_session=session)
        sio.on("initial-prices", received.append, namespace="/api-ws")
        await sio.connect(https(server), namespaces=["/api-ws"], auth={"apiKey": key},
                          transports=["websocket"], wait_timeout=10)  # fmt: skip
        try:
            await wait_for(lambda: bool(received))
        finally:
            await sio.disconnect()
    assert len(received[0]) == 20


async def test_official_coinmetrics_client_with_https_schema(
    tls: tuple[RunningServer, CertificateAuthority, Path],
) -> None:
    server, ca, _ = tls
    key = await server.key("pro")
    bundle = str(ca.ca_file)
    env = {"REQUESTS_CA_BUNDLE": bundle, "WEBSOCKET_CLIENT_CA_BUNDLE": bundle}
    call = {"method": "get_stream_market_trades", "kwargs": {"markets": "binance-btc-usdt-spot"},
            "count": 1}  # fmt: skip
    (result,) = await run_streams(server.host, server.port, key, [call], schema="https", env=env)
    assert result["url"].startswith(f"wss://{server.host}:{server.port}/v4/timeseries-stream/")
    assert not result["errors"] and result["messages"][0]["cm_sequence_id"] == "0"


async def test_sighup_reloads_the_certificate_and_keeps_connections(
    tls: tuple[RunningServer, CertificateAuthority, Path],
) -> None:
    server, ca, directory = tls
    assert server.uvicorn is not None
    before = await native(server, ca)
    async with before:
        assert peer_serial(before.transport.get_extra_info("ssl_object")) == 1
        ca.issue(directory / "server.pem", directory / "server.key", serial=2)
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: server.uvicorn is not None and server.uvicorn.tls_reloads == 1)
        async with await native(server, ca) as after:
            assert peer_serial(after.transport.get_extra_info("ssl_object")) == 2
            await ping(after, 1)
        await ping(before, 2)  # the connection opened before the reload goes on


async def test_vega_sample_and_javascript_socketio_client_over_tls(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """The Vega documentation's sample (websocket-client + rel) on ``wss://`` and the official
    npm socket.io-client on ``https://``, each trusting the test CA through its environment."""
    ca = CertificateAuthority.create(tmp_path)
    cert, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    ca.issue(cert, key_file, serial=1)
    server = await start_server(tls_cert=str(cert), tls_key=str(key_file), vega_block_time=0.2)
    bundle = {"WEBSOCKET_CLIENT_CA_BUNDLE": str(ca.ca_file)}
    async with sample(wss(server, "/api/v2/stream/markets/data"), bundle) as client:
        message = await client.message()
    assert message["result"]["marketData"]
    key = await server.key("pro", user="u", prefix="ci_live_")
    async with js_example(https(server), key, {"NODE_EXTRA_CA_CERTS": str(ca.ca_file)}) as js:
        await js.until(lambda: "initial-prices" in js.names(), "initial-prices")
    assert js.names()[0] == "connect"
    assert len(js.events[js.index("initial-prices")][1]) == 20


async def test_workers_serve_tls_and_reload_on_sighup(tmp_path: Path, redis_url: str) -> None:
    """``--workers 2 --tls-cert --tls-key``: both workers accept wss:// on the shared port; a
    SIGHUP to the parent reaches every worker, and new connections get the new certificate."""
    ca = CertificateAuthority.create(tmp_path)
    cert, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    ca.issue(cert, key_file, serial=1)
    args = ["--workers", "2", "--source", "simulator:rate=300", "--log-level", "info",
            "--data-dir", str(tmp_path / "data"), "--tls-cert", str(cert),
            "--tls-key", str(key_file)]  # fmt: skip
    node = NodeProcess("tls-workers", tmp_path, args, {"TICKCAST_BUS": redis_url},
                       verify=ca.client_context())  # fmt: skip
    try:
        await asyncio.to_thread(node.wait_healthy)
        started = "Application startup complete"
        await wait_for(lambda: node.log.read_text().count(started) == 2)  # both workers
        key = create_key(tmp_path / "data", "tls", "pro")
        headers = {"X-API-Key": key}

        async def serial() -> int:
            async with connect(node.ws, ssl=ca.client_context(), additional_headers=headers) as ws:
                await ping(ws, 1)
                return peer_serial(ws.transport.get_extra_info("ssl_object"))

        assert [await serial() for _ in range(4)] == [1] * 4
        ca.issue(cert, key_file, serial=2)
        node.process.send_signal(signal.SIGHUP)
        await wait_for(lambda: node.log.read_text().count("TLS certificate reloaded") == 2)
        assert [await serial() for _ in range(4)] == [2] * 4
    finally:
        node.stop()
    assert node.process.returncode == 0
