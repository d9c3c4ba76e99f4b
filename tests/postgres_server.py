"""A throw-away PostgreSQL server for tests: initdb in a temp dir, one random loopback port.

Uses Debian's binaries (``/usr/lib/postgresql/*/bin``, installed by scripts/test). As root the
server runs as the unprivileged ``postgres`` user (PostgreSQL refuses root), in a temp dir that
user owns. Nothing depends on a system cluster: the server listens on 127.0.0.1 only, on a port
chosen here, with its Unix socket in its own directory. ``start_postgres`` raises if it cannot
start the server, so a test that needs it fails instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "tickcast"
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and postgres."""
    candidates = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").exists() and (path / "postgres").exists()
    ]
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
            "run scripts/test (it installs Debian's postgresql package)"
        )
    return max(candidates, key=lambda path: int(path.parent.name.split(".")[0]))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    bin_dir: Path
    uid: int | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with the server's own psql; raises if it fails."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
            + ["-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", database]
            + ["-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "server.log").read_text(errors="replace")[-4000:]
        return ""

    def stop(self, *, remove: bool = True) -> None:
        """Fast shutdown (SIGINT), then SIGKILL after 10 s; removes the directory unless told."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self, timeout: float = 30.0) -> None:
        """Start the stopped server again on the same port and data (an outage that ends)."""
        self.process = _spawn(self.bin_dir, self.directory, self.port, self.uid)
        _wait_ready(self, timeout)


def _as_owner(argv: list[str], uid: int | None) -> list[str]:
    """``argv`` run by setpriv: as ``uid`` when given, and sent SIGINT (PostgreSQL's fast
    shutdown) if the test process dies without stopping it."""
    wrapper = ["setpriv", "--pdeathsig", "SIGINT"]
    if uid is not None:
        user = pwd.getpwuid(uid)
        wrapper += [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    return [*wrapper, "--", *argv]


def start_postgres(timeout: float = 30.0) -> PostgresServer:
    """initdb + postgres on a random loopback port; returns once it accepts connections."""
    bin_dir = find_bin_dir()
    uid: int | None = None
    if os.geteuid() == 0:
        uid = pwd.getpwnam("postgres").pw_uid
    directory = Path(tempfile.mkdtemp(prefix="tickcast-pg-"))
    data = directory / "data"
    try:
        if uid is not None:
            os.chown(directory, uid, pwd.getpwuid(uid).pw_gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                uid,
            ),
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")
        return _launch(bin_dir, directory, uid, timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _spawn(bin_dir: Path, directory: Path, port: int, uid: int | None) -> subprocess.Popen[bytes]:
    settings = {**_SERVER_SETTINGS, "port": str(port), "unix_socket_directories": str(directory)}
    argv = [str(bin_dir / "postgres"), "-D", str(directory / "data")]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    with open(directory / "server.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            _as_owner(argv, uid),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )


def _wait_ready(server: PostgresServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        ready = subprocess.run(
            [str(server.bin_dir / "pg_isready"), "-q", "-h", server.host, "-p", str(server.port)],
            check=False,
            timeout=timeout,
        )
        if ready.returncode == 0:
            return True
        time.sleep(0.05)
    return False


def _launch(bin_dir: Path, directory: Path, uid: int | None, timeout: float) -> PostgresServer:
    last_log = ""
    for _ in range(3):  # the free port may be taken between choosing and binding it
        port = _free_port()
        process = _spawn(bin_dir, directory, port, uid)
        server = PostgresServer("127.0.0.1", port, directory, process, bin_dir, uid)
        if _wait_ready(server, timeout):
            return server
        last_log = server.log()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    raise RuntimeError(f"PostgreSQL did not start; its log:\n{last_log}")


async def create_database(server: PostgresServer) -> str:
    """A new empty database on ``server``; returns its URL."""
    import uuid

    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(server.url(), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.url(name)
