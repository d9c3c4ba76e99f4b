"""Helpers for the /ws prediction tests: a CSV, the CLI, the vendor's sample client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tickcast.predict.repository import FilesystemRepository
from tickcast.predict.spec import ModelRef
from tickcast.predict.training import table_from_csv, train_to_blob

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]


def ws_url(http_base: str) -> str:
    return http_base.replace("http://", "ws://") + "/ws"


def write_csv(path: Path, rows: int = 80) -> Path:
    """point1, point2 → label "buy" when point1 > point2 else "sell" (learnable exactly)."""
    lines = ["point1,point2,label"]
    for i in range(rows):
        p1, p2 = i % 9, (i * 7) % 11
        lines.append(f"{p1},{p2},{'buy' if p1 > p2 else 'sell'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TICKCAST, *args], capture_output=True, text=True, timeout=timeout)


def train_with_cli(data_dir: str, csv: Path, *, user: str, **options: str) -> str:
    args = {
        "--user": user,
        "--strategy": "example_strategy",
        "--name": "DecisionTree",
        "--type": "class",
        "--csv": str(csv),
        "--target": "label",
        "--data-dir": data_dir,
        **options,
    }
    flat = [part for pair in args.items() for part in pair]
    done = cli("models", "train", *flat)
    assert done.returncode == 0, done.stderr
    return done.stdout


def train_in_process(data_dir: str, csv: Path, *, user: str) -> None:
    """The same model as :func:`train_with_cli`, without a subprocess (faster)."""
    ref = ModelRef.checked(user, "example_strategy", "DecisionTree", "class")
    table = table_from_csv(csv.read_text(), "label")
    meta, blob = train_to_blob(table, ref, "decision_tree", 0, "csv", 0)
    FilesystemRepository(Path(data_dir) / "models").save_sync(meta, blob)


def request(key: str, points: list[Any], **fields: str) -> str:
    """The vendor's documented request."""
    message = {
        "api_key": key,
        "strat_name": "example_strategy",
        "model_name": "DecisionTree",
        "model_type": "class",
        "DataPoints": points,
    }
    message.update(fields)
    return json.dumps(message)


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return result


async def authenticated(url: str, key: str) -> ClientConnection:
    ws = await connect(url)
    await ws.send(key)
    reply = await recv_json(ws)
    assert reply == {"status": "success", "message": "Valid API key."}
    return ws


async def vendor_sample_loop(uri: str, api_key: str, replies: list[dict[str, Any]]) -> None:
    """The vendor's loop sample as published (only ``print`` swapped for ``replies.append``).

    Its check ``response_data["message"] == "valid"`` never matches the documented reply, so
    it re-sends the key every second forever.
    """
    async with connect(uri) as websocket:
        connected = False
        while True:
            if not connected:
                await websocket.send(api_key)
                response = await websocket.recv()
                response_data = json.loads(response)
                replies.append(response_data)
                if response_data["message"] == "valid":
                    connected = True
            else:
                data = {
                    "api_key": api_key,
                    "strat_name": "example_strategy",
                    "model_name": "DecisionTree",
                    "model_type": "class",
                    "DataPoints": [{"point1": 3, "point2": 2}, {"point1": 1, "point2": 3}],
                }
                await websocket.send(json.dumps(data))
                response = await websocket.recv()
                replies.append(json.loads(response))
            await asyncio.sleep(1)
