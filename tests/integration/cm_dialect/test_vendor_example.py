"""Done means: the vendor's streaming example runs to completion against ``tickcast serve``."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).with_name("vendor_example.py")


def test_vendor_streaming_example_against_tickcast_serve(tmp_path: Path) -> None:
    serve = [sys.executable, "-m", "tickcast.cli.main", "serve", "--port", "0",
             "--data-dir", str(tmp_path), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        listening = server.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)", listening)
        assert port, listening
        key_line = server.stdout.readline()
        key = re.search(r"(tc_live_\S+)", key_line)
        assert key, key_line
        example = subprocess.run(
            [sys.executable, str(EXAMPLE), key.group(1), port.group(1)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert example.returncode == 0, example.stderr[-2000:]
    lines = example.stdout.splitlines()
    assert lines[-1] == "closing connection"
    messages = [ast.literal_eval(line) for line in lines[:-1]]
    assert [m["cm_sequence_id"] for m in messages] == [str(i) for i in range(11)]
    assert messages[0]["type"] == "snapshot" and messages[0]["market"] == "binance-btc-usdt-spot"
    assert all(m["type"] == "update" for m in messages[1:])
