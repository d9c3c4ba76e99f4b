"""The CLI as users run it: separate processes, real ports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TICKCAST, *args], capture_output=True, text=True, timeout=timeout)


def test_cli_keys_create_prints_the_key_alone(tmp_path: Path) -> None:
    """`keys create` prints only the key; `keys list` never shows it; a bad plan exits 2."""
    created = run(
        "keys",
        "create",
        "--user",
        "ann",
        "--plan",
        "pro",
        "--prefix",
        "tc_test_",
        "--data-dir",
        str(tmp_path),
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"tc_test_[A-Za-z0-9]{20,}", key) and created.stdout.count("\n") == 1
    listed = run("keys", "list", "--data-dir", str(tmp_path))
    assert "ann" in listed.stdout and key not in listed.stdout
    bad = run("keys", "create", "--user", "ann", "--plan", "platinum", "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "platinum" in bad.stderr


def test_cli_serve_and_tail(tmp_path: Path) -> None:
    """`serve` prints where it listens and a development key; `tail` prints live trades."""
    server = subprocess.Popen(
        [*TICKCAST, "serve", "--port", "0", "--data-dir", str(tmp_path), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        listening = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", listening)
        assert match, f"unexpected first line {listening!r}"
        port = int(match.group(1))
        key_line = server.stdout.readline()
        key = key_line.rsplit(" ", 1)[-1].strip()
        assert key.startswith("tc_live_"), key_line
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            subprocess.run(["sleep", "0.1"], check=True)
        else:
            pytest.fail("server never became healthy")
        url = f"ws://127.0.0.1:{port}"
        book = run(
            "tail",
            "book:binance-btc-usdt-spot",
            "--depth",
            "5",
            "--count",
            "3",
            "--url",
            url,
            "--key",
            key,
        )
        assert book.returncode == 0, book.stderr
        shown = book.stdout.strip().splitlines()
        assert len(shown) == 3 and "snapshot" in shown[0] and "5 bids" in shown[0]
        trades = run(
            "tail", "trades:binance-btc-usdt-spot", "--count", "2", "--url", url, "--key", key
        )
        assert trades.returncode == 0, trades.stderr
        shown = trades.stdout.strip().splitlines()
        pattern = r"trades:binance-btc-usdt-spot #\d+ (BUY |SELL) [0-9.]+ @ [0-9.]+"
        assert len(shown) == 2 and all(re.match(pattern, line) for line in shown), shown
        listed = run("markets", "--exchange", "binance", "--url", url, "--key", key)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.strip().splitlines()
        assert lines[0].split() == ["MARKET", "KIND", "SYMBOL", "TICK", "LOT"]
        row = next(line.split() for line in lines if line.startswith("binance-btc-usdt-spot "))
        assert row[1:3] == ["spot", "BTCUSDT"] and float(row[3]) > 0 and float(row[4]) > 0
        assert all(line.startswith("binance-") for line in lines[1:])
        unreachable = run("markets", "--url", "ws://127.0.0.1:9", "--key", key)
        assert unreachable.returncode == 1 and "cannot list" in unreachable.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode in (0, -15)
