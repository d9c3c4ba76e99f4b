"""The client the original service's users generate: openapi-generator (`-g python --library
asyncio --package-name kraken_sdk`), run on the live ``/openapi.json``.

The generator is the JAR shipped in the ``openapi-generator-cli`` wheel (dev extra), run by the
machine's Java (``scripts/test`` installs a headless JRE if none is there). The generated client
runs in a subprocess with the generated package on its path; it must offer
``kraken_sdk.WebsocketApi(api_client).websocket()``, and ``configuration.api_key['api_key'] = KEY``
must make it send the key (docs/control-plane.md)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from importlib import resources
from pathlib import Path

import httpx
from tests.conftest import ServerFactory

CLIENT_SCRIPT = """
import asyncio, json, sys
import kraken_sdk
from kraken_sdk.rest import ApiException

async def main(host, key):
    configuration = kraken_sdk.Configuration(host=host)
    configuration.api_key["api_key"] = key
    out = {}
    async with kraken_sdk.ApiClient(configuration) as api_client:
        usage = await kraken_sdk.UsageApi(api_client).get_usage()
        out["usage"] = type(usage).__name__
        users = await kraken_sdk.AdminApi(api_client).list_users()
        out["users"] = sorted(u.name for u in users)
        try:
            await kraken_sdk.WebsocketApi(api_client).websocket()
            out["websocket"] = "no error"
        except ApiException as error:
            out["websocket"] = error.status
    anonymous = kraken_sdk.Configuration(host=host)
    async with kraken_sdk.ApiClient(anonymous) as api_client:
        try:
            await kraken_sdk.AdminApi(api_client).list_users()
            out["anonymous"] = "no error"
        except ApiException as error:
            out["anonymous"] = error.status
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def run(*command: str, cwd: Path, timeout: float = 120) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, output.decode()[-3000:]
    return output.decode()


async def test_openapi_generator_client_sends_the_key_and_offers_websocket(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    java = shutil.which("java")
    assert java is not None, "Java is required: scripts/test installs default-jre-headless"
    jar = resources.files("openapi_generator_cli") / "openapi-generator.jar"
    server = await start_server(sources="none")
    await server.node.store.ensure_user("carol", "pro")
    async with httpx.AsyncClient() as http:
        (tmp_path / "openapi.json").write_bytes(
            (await http.get(f"{server.http}/openapi.json")).content
        )
    await run(
        java, "-jar", str(jar), "generate", "-i", "openapi.json", "-g", "python",
        "--library", "asyncio", "--package-name", "kraken_sdk", "-o", "gen", cwd=tmp_path,
    )  # fmt: skip
    api_file = tmp_path / "gen" / "kraken_sdk" / "api" / "websocket_api.py"
    assert "Start a websocket connection" in api_file.read_text()
    output = await run(
        sys.executable, "-c", CLIENT_SCRIPT, server.http, server.admin_key, cwd=tmp_path / "gen"
    )
    answers = json.loads(output.strip().splitlines()[-1])
    assert answers["usage"] != ""
    assert "carol" in answers["users"]
    assert answers["websocket"] == 400
    assert answers["anonymous"] == 401
