"""``tickcast serve`` processes for cluster tests: start, wait until healthy, kill, always stop."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

TICKCAST = [sys.executable, "-m", "tickcast.cli.main"]


class NodeProcess:
    def __init__(
        self,
        name: str,
        workdir: Path,
        args: list[str],
        env: dict[str, str],
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: how to check the certificate of a node serving TLS (``--tls-cert``)."""
        self.name = name
        self.verify = verify
        self.scheme = "http"
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [*TICKCAST, "serve", "--port", "0", "--log-level", "warning", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        self.port = 0

    @property
    def http(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        ws_scheme = "wss" if self.scheme == "https" else "ws"
        return f"{ws_scheme}://127.0.0.1:{self.port}/api/v1/ws"

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if not self.port:
                found = re.search(
                    r"listening on (https?)://127\.0\.0\.1:(\d+)", self.log.read_text()
                )
                if found:
                    self.scheme, self.port = found.group(1), int(found.group(2))
            if self.port:
                try:
                    health = httpx.get(f"{self.http}/healthz", timeout=1, verify=self.verify)
                    if health.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} not healthy in {timeout} s: {self.log.read_text()[-2000:]}"
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, Redis or the lease keys."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def create_key(data_dir: Path, user: str, plan: str) -> str:
    done = subprocess.run(
        [*TICKCAST, "keys", "create", "--user", user, "--plan", plan, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()
