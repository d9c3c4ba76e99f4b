"""A client generated from the live ``/openapi.json`` by openapi-python-client works with a key.

The generator runs in a subprocess; the generated package is imported from the test's tmp dir.
Its module layout (``api.<tag>.<operationId>``) is the document's tags and operation ids."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from tests.conftest import ServerFactory

PACKAGE = "tickcast_generated_client"


async def generate(url: str, out: Path) -> None:
    document = out.parent / "openapi.json"
    async with httpx.AsyncClient() as http:
        document.write_bytes((await http.get(f"{url}/openapi.json")).content)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
        "--meta", "none", "--output-path", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path / PACKAGE
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_generated_client_calls_control_plane_and_websocket(
    start_server: ServerFactory, generated: Path
) -> None:
    server = await start_server(sources="none")
    await generate(server.http, generated)
    client_module = module("client")
    client = client_module.AuthenticatedClient(base_url=server.http, token=server.admin_key)
    anonymous = client_module.AuthenticatedClient(base_url=server.http, token="tc_live_nope")

    users = await module("api.admin.list_users").asyncio_detailed(client=client)
    assert users.status_code == 200 and [u.name for u in users.parsed] == ["dev"]
    usage = await module("api.usage.get_usage").asyncio_detailed(client=client)
    assert usage.status_code == 200 and isinstance(usage.parsed, list)
    refused = await module("api.admin.list_users").asyncio_detailed(client=anonymous)
    assert refused.status_code == 401 and refused.parsed.status_code == 1005

    websocket = module("api.websocket.websocket")
    assert websocket.asyncio_detailed.__doc__.startswith("Start a websocket connection")
    plain = await websocket.asyncio_detailed(client=client)
    assert plain.status_code == 400  # a plain HTTP GET is not an upgrade: the documented 400
    assert plain.parsed.status_code == 1003
    assert plain.parsed.message == "No WebSocket UPGRADE header found"


OPERATIONS = {
    "GET /healthz": ("healthz", "health", False),
    "GET /metrics": ("metrics", "health", False),
    "GET /api/v1/markets": ("list_markets", "catalogue", False),
    "GET /api/v1/streams": ("list_streams", "catalogue", False),
    "GET /api/v1/plans": ("list_plans", "catalogue", False),
    "GET /api/v1/users": ("list_users", "admin", True),
    "POST /api/v1/users": ("create_user", "admin", True),
    "POST /api/v1/keys": ("create_key", "admin", True),
    "GET /api/v1/keys": ("list_keys", "admin", True),
    "DELETE /api/v1/keys/{key_id}": ("revoke_key", "admin", True),
    "GET /api/v1/connections": ("list_connections", "admin", True),
    "GET /api/v1/connectors": ("list_connectors", "admin", True),
    "DELETE /api/v1/connections/{connection_id}": ("close_connection", "admin", True),
    "GET /api/v1/usage": ("get_usage", "usage", True),
    "POST /api/v1/publish": ("publish", "publish", True),
    "GET /ws": ("predictions_websocket", "predictions", False),
    "POST /api/v1/models": ("train_model", "predictions", True),
    "GET /api/v1/models": ("list_models", "predictions", True),
    "POST /api/v1/models/from-market": ("train_from_market", "predictions", True),
    "POST /api/v1/models/import": ("import_model", "predictions", True),
    "GET /api/v1/models/{strategy}/{type}/{name}": ("show_model", "predictions", True),
    "DELETE /api/v1/models/{strategy}/{type}/{name}": ("delete_model", "predictions", True),
    "GET /api/v1/predictions/live": ("list_live", "predictions", True),
    "POST /api/v1/predictions/live": ("attach_live", "predictions", True),
    "DELETE /api/v1/predictions/live/{strategy}/{name}": ("detach_live", "predictions", True),
    "GET /api/v1/predictions/connections": ("list_prediction_connections", "predictions", True),
    "DELETE /api/v1/predictions/connections/{connection_id}": (
        "close_prediction_connection", "predictions", True,
    ),
    "GET /api/v1/ws": ("websocket", "websocket", True),
    "GET /api/v2/markets": ("vega_list_markets", "vega", False),
    "GET /api/v2/parties": ("vega_list_parties", "vega", False),
    "GET /api/v2/candle/intervals": ("vega_candle_intervals", "vega", False),
    "GET /api/v2/market/depth/{market_id}/latest": ("vega_latest_depth", "vega", False),
}  # fmt: skip
"""Every operation's id, tag and whether it needs a key: API of every generated client
(docs/control-plane.md), so a change here is a breaking change."""


async def test_operation_ids_tags_and_security_are_stable(start_server: ServerFactory) -> None:
    server = await start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        document = (await http.get("/openapi.json")).json()
        # what openapi-generator sends for ``api_key``: the bare key as the Cookie header
        bare = await http.get("/api/v1/users", headers={"Cookie": server.admin_key})
        assert bare.status_code == 200
    found = {
        f"{method.upper()} {path}": (
            op["operationId"],
            *op["tags"],
            [next(iter(r)) for r in op.get("security", [])],
        )
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    keyed = ["api_key", "api_key_header", "bearer", "api_key_query"]
    assert found == {
        name: (operation, tag, keyed if needs_key else [])
        for name, (operation, tag, needs_key) in OPERATIONS.items()
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["api_key"] == {**schemes["api_key"], "type": "apiKey", "in": "cookie",
                                  "name": "id"}  # fmt: skip
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["api_key_header"]["name"] == "X-API-Key"
    native = document["paths"]["/api/v1/ws"]["get"]
    assert native["summary"] == "Start a websocket connection"
    assert set(native["responses"]) == {"101", "400", "500"}
