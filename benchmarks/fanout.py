#!/usr/bin/env python3
"""Fan-out benchmark: many native WebSocket clients on the same few shared streams.

Starts a tickcast server (or targets a running one with ``--url/--key``), opens ``--clients``
native connections from ``--procs`` worker processes, and measures over a window:

* delivered messages per second (all clients summed) and bytes per second;
* per-connection, per-stream ``seq`` gaps and duplicates (should be 0), plus the server's
  explicit ``Gap`` notices and reset snapshots (outbox overflow recovery);
* publish-to-receive latency of trade updates (receive wall clock - trade ``time``);
* server RSS (baseline, with the clients connected, peak in the window, after they leave),
  server CPU, client CPU and host CPU.

Usage (see benchmarks/README.md)::

    .venv/bin/python benchmarks/fanout.py --clients 1000 --duration 10
    .venv/bin/python benchmarks/fanout.py --source simulator --clients 200 --json

Everything runs on 127.0.0.1. Every phase has a hard deadline and the server is always stopped
(SIGTERM, then SIGKILL) on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import collections
import concurrent.futures
import contextlib
import http.client
import multiprocessing as mp
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

DEFAULT_STREAMS = (
    "trades:binance-btc-usdt-spot,trades:binance-eth-usdt-spot,book:binance-btc-usdt-spot"
)
LISTENING = re.compile(r"listening on https?://([^\s:/]+|\[[^\]]+\]):(\d+)")
# Used when the ``tickcast`` CLI itself cannot start (e.g. an unrelated sub-command is broken):
# the same ``serve`` and ``keys`` sub-commands, registered without the others.
BOOTSTRAP = (
    "import argparse, sys\n"
    "from tickcast.cli import keys, serve\n"
    "parser = argparse.ArgumentParser(prog='tickcast')\n"
    "commands = parser.add_subparsers(dest='command', required=True)\n"
    "serve.register(commands)\n"
    "keys.register(commands)\n"
    "args = parser.parse_args()\n"
    "sys.exit(args.func(args))\n"
)
LOG_PROBLEM = re.compile(r"\b(ERROR|CRITICAL|WARNING|Traceback|Exception)\b|Error:")


class BenchError(Exception):
    """A phase failed or missed its deadline."""


def log(message: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- time parsing ----------------------------------------------------------------------------

_SECONDS: dict[str, int] = {}


def rfc3339_ns(text: str) -> int:
    """``2026-11-21T05:49:29.665814183Z`` -> ns since the epoch (UTC; 'Z' only).

    The ``YYYY-MM-DDTHH:MM:SS`` prefix is converted once and cached; the fraction is an int.
    """
    prefix = text[:19]
    seconds = _SECONDS.get(prefix)
    if seconds is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        seconds = _SECONDS[prefix] = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
    fraction = text[20:-1] if len(text) > 20 and text[19] == "." else ""
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return seconds * 1_000_000_000 + nanos


# -- client worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    url: str
    first: int
    """Global index of this worker's first connection."""
    count: int
    latency_every: int
    handshakes: int
    connect_deadline: float
    """Wall-clock time by which every handshake must be done."""
    hard_deadline: float
    """Wall-clock time at which the worker exits whatever happens."""
    deflate: bool
    cpus: tuple[int, ...] | None
    uvloop: bool


class _Client:
    __slots__ = ("index", "last", "sample", "ws")

    def __init__(self, index: int, ws: ClientConnection, sample: bool) -> None:
        self.index = index
        self.ws = ws
        self.sample = sample
        self.last: dict[str, int] = {}


class Worker:
    """One client process: an asyncio loop with ``spec.count`` connections."""

    def __init__(self, spec: WorkerSpec, pipe: Connection) -> None:
        self.spec = spec
        self.pipe = pipe
        self.clients: list[_Client] = []
        self.readers: list[asyncio.Task[None]] = []
        self.connect_failures: collections.Counter[str] = collections.Counter()
        self.handshake_ms: list[float] = []
        self.measuring = False
        self.stopping = False
        self.received = 0
        self.bytes = 0
        self.missing = 0
        self.gap_events = 0
        self.duplicates = 0
        self.gap_notices = 0
        self.gap_notice_seqs = 0
        self.snapshots = 0
        self.reset_snapshots = 0
        self.closings: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.other_types: collections.Counter[str] = collections.Counter()
        self.bad_frames = 0
        self.disconnects: collections.Counter[str] = collections.Counter()
        self.latency_ns: list[int] = []
        self.latency_at: list[int] = []
        """Receive time of each latency sample, in ns since the epoch."""
        self.seq_range: dict[str, list[int]] = {}
        self.ticks: list[tuple[float, int, int]] = []

    # -- commands from the main process --------------------------------------------------

    def _wait_command(self, timeout: float) -> tuple[str, Any]:
        if not self.pipe.poll(max(timeout, 0.0)):
            raise BenchError(f"worker {self.spec.index}: no command from the main process")
        command: tuple[str, Any] = self.pipe.recv()
        return command

    async def run(self) -> None:
        spec = self.spec
        semaphore = asyncio.Semaphore(spec.handshakes)
        opens = [asyncio.create_task(self._open(i, semaphore)) for i in range(spec.count)]
        started = time.perf_counter()
        _, pending = await asyncio.wait(opens, timeout=max(spec.connect_deadline - time.time(), 1))
        for task in pending:
            task.cancel()
        if pending:
            self.connect_failures["connect phase deadline"] += len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        self.pipe.send(
            (
                "connected",
                {
                    "ok": len(self.clients),
                    "failures": dict(self.connect_failures),
                    "seconds": time.perf_counter() - started,
                },
            )
        )
        name, payload = await asyncio.to_thread(
            self._wait_command, spec.hard_deadline - time.time()
        )
        if name == "start":
            window_start, window_end = payload
            await self._measure(window_start, window_end)
        self.pipe.send(("result", self._result()))
        await asyncio.to_thread(self._wait_command, spec.hard_deadline - time.time())
        await self._close_all()
        self.pipe.send(("closed", None))

    async def _open(self, i: int, semaphore: asyncio.Semaphore) -> None:
        spec = self.spec
        index = spec.first + i
        async with semaphore:
            started = time.perf_counter()
            try:
                ws = await connect(
                    spec.url,
                    compression="deflate" if spec.deflate else None,
                    ping_interval=None,
                    open_timeout=30,
                    close_timeout=3,
                    max_size=1 << 24,
                )
            except InvalidStatus as error:
                body = error.response.body or b""
                reason = f"HTTP {error.response.status_code} {body[:120].decode(errors='replace')}"
                self.connect_failures[reason] += 1
                return
            except Exception as error:  # refused, reset, timed out...
                self.connect_failures[f"{type(error).__name__}: {str(error)[:120]}"] += 1
                return
            self.handshake_ms.append((time.perf_counter() - started) * 1000)
        client = _Client(index, ws, index % spec.latency_every == 0)
        self.clients.append(client)
        self.readers.append(asyncio.create_task(self._read(client)))

    async def _read(self, client: _Client) -> None:
        ws = client.ws
        recv = ws.recv
        loads = orjson.loads
        last = client.last
        sample = client.sample
        now_ns = time.time_ns
        try:
            while True:
                raw = await recv(decode=False)
                received_ns = now_ns() if sample else 0
                self.received += 1
                self.bytes += len(raw)
                try:
                    message = loads(raw)
                    kind = message["type"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    self.bad_frames += 1
                    continue
                if kind == "Update":
                    stream = message["stream"]
                    seq = message["seq"]
                    previous = last.get(stream)
                    if previous is None or seq == previous + 1:
                        last[stream] = seq
                    elif seq <= previous:
                        self.duplicates += 1
                    else:
                        self.missing += seq - previous - 1
                        self.gap_events += 1
                        last[stream] = seq
                    if sample and self.measuring:
                        span = self.seq_range.get(stream)
                        if span is None:
                            self.seq_range[stream] = [seq, seq]
                        elif seq > span[1]:
                            span[1] = seq
                        if stream.startswith("trades:"):
                            data = message["data"]
                            if isinstance(data, dict):
                                self.latency_ns.append(received_ns - rfc3339_ns(data["time"]))
                                self.latency_at.append(received_ns)
                elif kind == "Snapshot":
                    last[message["stream"]] = message["seq"]
                    self.snapshots += 1
                    if message.get("reset"):
                        self.reset_snapshots += 1
                elif kind == "Subscribed":
                    for position in message.get("streams", ()):
                        last[position["stream"]] = position["seq"]
                elif kind == "Gap":
                    self.gap_notices += 1
                    self.gap_notice_seqs += message["to"] - message["from"] + 1
                    stream = message["stream"]
                    last[stream] = max(last.get(stream, 0), message["to"])
                elif kind == "Closing":
                    self.closings[f"{message.get('code')} {message.get('reason')}"] += 1
                elif kind == "Error":
                    self.errors[f"{message.get('code')} {message.get('message')}"] += 1
                else:
                    self.other_types[str(kind)] += 1
        except ConnectionClosed as closed:
            if not self.stopping:
                rcvd = closed.rcvd
                reason = f"{rcvd.code} {rcvd.reason}" if rcvd else "no close frame"
                self.disconnects[reason] += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug here must not take the other connections down
            self.disconnects[f"client error {type(error).__name__}: {error}"] += 1

    async def _measure(self, window_start: float, window_end: float) -> None:
        """Snapshot ``received`` at each second boundary of the window."""
        boundaries = [window_start + k for k in range(int(window_end - window_start))]
        boundaries.append(window_end)
        for k, boundary in enumerate(boundaries):
            await asyncio.sleep(max(boundary - time.time(), 0))
            if k == 0:
                self.measuring = True
            self.ticks.append((time.time(), self.received, self.bytes))
        self.measuring = False

    def _result(self) -> dict[str, Any]:
        return {
            "connected": len(self.clients),
            "sampled_connections": sum(1 for c in self.clients if c.sample),
            "ticks": self.ticks,
            "received_total": self.received,
            "missing": self.missing,
            "gap_events": self.gap_events,
            "duplicates": self.duplicates,
            "gap_notices": self.gap_notices,
            "gap_notice_seqs": self.gap_notice_seqs,
            "snapshots": self.snapshots,
            "reset_snapshots": self.reset_snapshots,
            "closings": dict(self.closings),
            "errors": dict(self.errors),
            "other_types": dict(self.other_types),
            "bad_frames": self.bad_frames,
            "disconnects": dict(self.disconnects),
            "latency_ns": self.latency_ns,
            "latency_at": self.latency_at,
            "seq_range": self.seq_range,
            "handshake_ms": self.handshake_ms,
        }

    async def _close_all(self) -> None:
        self.stopping = True
        closes = [asyncio.create_task(c.ws.close()) for c in self.clients]
        if closes:
            _, pending = await asyncio.wait(closes, timeout=10)
            for task in pending:
                task.cancel()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, *closes, return_exceptions=True)


def worker_main(spec: WorkerSpec, pipe: Connection) -> None:
    """Entry point of a client worker process (spawned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when we stop
    raise_nofile_limit()
    if spec.cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, spec.cpus)
    try:
        worker = Worker(spec, pipe)
        if spec.uvloop:
            import uvloop

            uvloop.run(worker.run())
        else:
            asyncio.run(worker.run())
    except BaseException as error:  # report, then exit non-zero
        with contextlib.suppress(Exception):
            pipe.send(("error", f"{error!r}\n{traceback.format_exc()}"))
        raise SystemExit(1) from None


# -- server ----------------------------------------------------------------------------------


TLS = False
"""The server speaks TLS (``--url https://...`` or ``--tls-cert`` in ``--server-args``): https and
wss, trusting the CA of ``SSL_CERT_FILE`` (inherited by the client worker processes)."""


def http_get(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = (
        http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
        if TLS
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


Scrape = tuple[float, float, dict[str, float]]


def scrape_metrics(host: str, port: int) -> Scrape:
    """``/metrics`` as {sample name (labels stripped, summed): value}, with the wall-clock
    times the request was sent and the response read (the server's loop may be busy)."""
    sent = time.time()
    status, body = http_get(host, port, "/metrics", timeout=20)
    at = time.time()
    values: dict[str, float] = collections.defaultdict(float)
    if status == 200:
        for line in body.decode(errors="replace").splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, rest = line.partition(" ")
            name = name.split("{", 1)[0]
            if name.endswith("_created"):
                continue
            with contextlib.suppress(ValueError):
                values[name] += float(rest.split()[0])
    return sent, at, dict(values)


def tickcast_command() -> tuple[list[str], str]:
    """The ``tickcast`` CLI next to this interpreter, or the bootstrap if it cannot start."""
    candidates = [Path(sys.executable).with_name("tickcast")]
    found = shutil.which("tickcast")
    if found:
        candidates.append(Path(found))
    for exe in candidates:
        if not exe.exists():
            continue
        probe = subprocess.run(
            [str(exe), "--help"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if probe.returncode == 0:
            return [str(exe)], f"cli ({exe})"
        reason = (probe.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        log(f"warning: `{exe} --help` failed ({reason}); starting serve/keys via a bootstrap")
        return [sys.executable, "-c", BOOTSTRAP], f"bootstrap (tickcast CLI failed: {reason})"
    return [sys.executable, "-c", BOOTSTRAP], "bootstrap (no tickcast CLI found)"


class ManagedServer:
    """A tickcast server subprocess in a temporary data dir."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(tempfile.mkdtemp(prefix="tickcast-fanout-"))
        self.stdout_path = self.data_dir / "server.stdout"
        self.stderr_path = self.data_dir / "server.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.command, self.launcher = tickcast_command()
        self.host = "127.0.0.1"
        self.port = 0
        self.key = ""
        self.exit_code: int | None = None
        self.pinned = False
        self.redis: RedisProcess | None = None

    def start(self) -> None:
        args = self.args
        config = self.data_dir / "bench.toml"
        # The built-in ``pro`` plan allows 10 connections per user: lift that for the benchmark.
        config.write_text(f'[plans.pro]\ninherits = "pro"\nmax_connections = {args.clients + 16}\n')
        common = ["--data-dir", str(self.data_dir), "--config", str(config)]
        created = subprocess.run(
            [*self.command, "keys", "create", "--user", "bench", "--plan", "pro", *common],
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if created.returncode != 0:
            raise BenchError(f"keys create failed: {created.stderr.decode(errors='replace')}")
        self.key = created.stdout.decode().strip().splitlines()[-1]
        command = [
            *self.command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *common,
            "--source",
            args.source,
            "--log-level",
            args.server_log_level,
            *shlex.split(args.server_args),
        ]
        if args.bus != "memory":
            if args.bus == "redis":
                self.redis = RedisProcess(self.data_dir)
            command += ["--bus", self.redis.url if self.redis else args.bus]
        if args.workers > 1:
            command += ["--workers", str(args.workers)]
        if args.server_cpu is not None:
            if shutil.which("taskset"):
                command = ["taskset", "-c", str(args.server_cpu), *command]
                self.pinned = True
            else:
                log("warning: taskset not found; the server is not pinned")
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + args.startup_timeout
        while not self.port:
            self._check_alive("while starting")
            match = LISTENING.search(self.stdout_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(2))
                break
            if time.monotonic() > deadline:
                raise BenchError("server did not print its address in time")
            time.sleep(0.05)
        while True:
            self._check_alive("before /healthz")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_get(self.host, self.port, "/healthz", timeout=2)[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError("server /healthz not 200 in time")
            time.sleep(0.1)

    def _check_alive(self, when: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchError(
                f"server exited with {self.process.returncode} {when}:\n{self.log_tail()}"
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log("server did not stop within 10 s of SIGTERM: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=10)
        self.exit_code = process.returncode
        if self.redis is not None:
            self.redis.stop()

    def log_text(self) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cleanup(self) -> None:
        if self.args.keep_data:
            log(f"server data and logs kept in {self.data_dir}")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def log_problems(text: str, limit: int = 25) -> tuple[int, list[str]]:
    """Lines of the server log that look like warnings or errors (keys redacted)."""
    problems = [line for line in text.splitlines() if LOG_PROBLEM.search(line)]
    redacted = [re.sub(r"api_key=[^&\s\"]+", "api_key=***", line)[:300] for line in problems]
    return len(problems), redacted[:limit]


# -- main orchestration ----------------------------------------------------------------------


@dataclass
class Samples:
    rss_mb: list[tuple[float, float]] = field(default_factory=list)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _family(process: psutil.Process) -> list[psutil.Process]:
    """The process and its children (``--workers N`` runs the server as N child processes)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def cpu_seconds(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    total = float(times.user + times.system)
    for child in _family(process)[1:]:
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def rss_mb(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        total = float(process.memory_info().rss)
    except psutil.Error:
        return None
    for child in _family(process)[1:]:
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / (1024 * 1024)


class RedisProcess:
    """``--bus redis``: a private redis-server on a random loopback port, persistence off."""

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise BenchError("--bus redis needs redis-server (apt-get install redis-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        self.stop()
        raise BenchError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def receive(
    pipes: Sequence[Connection], expected: str, deadline: float, on_wait: Callable[[], None]
) -> list[Any]:
    """One ``expected`` message from every worker pipe, by ``deadline`` (monotonic)."""
    results: list[Any] = [None] * len(pipes)
    waiting = set(range(len(pipes)))
    while waiting:
        on_wait()
        if time.monotonic() > deadline:
            raise BenchError(f"workers {sorted(waiting)} did not send {expected!r} in time")
        ready = mp_wait([pipes[i] for i in waiting], timeout=0.2)
        for i in list(waiting):
            if pipes[i] not in ready:
                continue
            try:
                name, payload = pipes[i].recv()
            except (EOFError, OSError):
                raise BenchError(f"worker {i} died before sending {expected!r}") from None
            if name == "error":
                raise BenchError(f"worker {i} failed: {payload}")
            if name == expected:
                results[i] = payload
                waiting.discard(i)
    return results


def parse_cpus(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return tuple(cpus)


def run(args: argparse.Namespace) -> dict[str, Any]:
    nofile = raise_nofile_limit()
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    needed = args.clients // max(args.procs, 1) + 64
    if nofile < needed:
        log(f"warning: open-files limit {nofile} is low for {needed} sockets per worker")
    server: ManagedServer | None = None
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    completed = False
    report: dict[str, Any] = {
        "clients": args.clients,
        "procs": args.procs,
        "streams": streams,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "latency_every": args.latency_every,
        "deflate": args.deflate,
        "cpu_count": os.cpu_count(),
        "nofile_limit": nofile,
    }
    global TLS
    TLS = "--tls-cert" in args.server_args or (args.url or "").startswith("https://")
    report["tls"] = TLS
    try:
        if args.url:
            parts = urlsplit(args.url if "//" in args.url else f"http://{args.url}")
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            key = args.key
            server_process = psutil.Process(args.server_pid) if args.server_pid else None
            report["server"] = {"mode": "external", "url": f"http://{host}:{port}"}
        else:
            report["source"] = args.source
            report["server_args"] = args.server_args
            report["bus"] = args.bus
            report["workers"] = args.workers
            log(f"starting server (source {args.source})")
            server = ManagedServer(args)
            server.start()
            host, port, key = server.host, server.port, server.key
            server_process = psutil.Process(server.pid)
            report["server"] = {
                "mode": "managed",
                "url": f"http://{host}:{port}",
                "launcher": server.launcher,
                "pinned_cpu": args.server_cpu if server.pinned else None,
            }
            log(f"server pid {server.pid} on port {port} ({server.launcher})")

        samples = Samples()

        def check_server() -> None:
            if server is not None and not server.alive():
                raise BenchError(f"server died:\n{server.log_tail()}")

        def sample_rss() -> None:
            check_server()
            now = time.time()
            if samples.rss_mb and now - samples.rss_mb[-1][0] < args.sample_interval:
                return
            value = rss_mb(server_process)
            if value is not None:
                samples.rss_mb.append((now, value))

        status, body = http_get(host, port, "/api/v1/markets", timeout=10)
        if status == 200:
            markets = {m["id"] for m in orjson.loads(body)}
            unknown = [s for s in streams if s.partition(":")[2] not in markets]
            if unknown:
                log(f"warning: streams on markets this server does not list: {unknown}")
        time.sleep(args.settle)
        rss_baseline = rss_mb(server_process)
        # -- clients -------------------------------------------------------------------------
        query = f"api_key={quote(key, safe='')}&streams={quote(','.join(streams), safe=':,')}"
        url = f"{'wss' if TLS else 'ws'}://{host}:{port}/api/v1/ws?{query}"
        try:
            import uvloop  # noqa: F401

            use_uvloop = not args.no_uvloop
        except ImportError:
            use_uvloop = False
        report["client_loop"] = "uvloop" if use_uvloop else "asyncio"
        context = mp.get_context("spawn")
        now = time.time()
        connect_deadline = now + args.connect_timeout
        hard_deadline = connect_deadline + args.warmup + args.duration + 90
        cpus = parse_cpus(args.client_cpus)
        share, extra = divmod(args.clients, args.procs)
        first = 0
        for index in range(args.procs):
            count = share + (1 if index < extra else 0)
            spec = WorkerSpec(
                index=index,
                url=url,
                first=first,
                count=count,
                latency_every=args.latency_every,
                handshakes=args.handshakes,
                connect_deadline=connect_deadline,
                hard_deadline=hard_deadline,
                deflate=args.deflate,
                cpus=cpus,
                uvloop=use_uvloop,
            )
            first += count
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main, args=(spec, child_end), name=f"fanout-{index}", daemon=True
            )
            process.start()
            child_end.close()
            processes.append(process)
            pipes.append(parent_end)
        log(f"connecting {args.clients} clients from {args.procs} workers")
        connected = receive(
            pipes, "connected", time.monotonic() + args.connect_timeout + 30, sample_rss
        )
        ok = sum(c["ok"] for c in connected)
        failures: collections.Counter[str] = collections.Counter()
        for c in connected:
            failures.update(c["failures"])
        report["connected"] = ok
        report["connect_failures"] = dict(failures.most_common(10))
        report["connect_phase_s"] = round(max(c["seconds"] for c in connected), 2)
        log(f"{ok}/{args.clients} connected in {report['connect_phase_s']} s")
        if failures:
            log(f"connect failures: {dict(failures.most_common(5))}")
        rss_connected = rss_mb(server_process)
        # -- warm-up and window --------------------------------------------------------------
        workers_ps = [psutil.Process(p.pid) for p in processes if p.pid is not None]
        window_start = time.time() + args.warmup
        window_end = window_start + args.duration
        for pipe in pipes:
            pipe.send(("start", (window_start, window_end)))
        log(f"warm-up {args.warmup} s, then measuring {args.duration} s")
        metrics_futures: list[concurrent.futures.Future[Scrape]] = []
        cpu_start: dict[str, Any] = {}
        cpu_end: dict[str, Any] = {}
        while True:
            now = time.time()
            check_server()
            if not cpu_start and now >= window_start:
                cpu_start = {
                    "server": cpu_seconds(server_process),
                    "clients": [cpu_seconds(p) for p in workers_ps],
                    "host": psutil.cpu_times(),
                    "wall": time.monotonic(),
                }
                metrics_futures.append(pool.submit(scrape_metrics, host, port))
            if now >= window_end:
                cpu_end = {
                    "server": cpu_seconds(server_process),
                    "clients": [cpu_seconds(p) for p in workers_ps],
                    "host": psutil.cpu_times(),
                    "wall": time.monotonic(),
                }
                metrics_futures.append(pool.submit(scrape_metrics, host, port))
                break
            value = rss_mb(server_process)
            if value is not None:
                samples.rss_mb.append((now, value))
            next_mark = window_end if cpu_start else window_start
            time.sleep(min(args.sample_interval, max(next_mark - time.time(), 0.0)))
        log("window over; collecting results")
        results = receive(pipes, "result", time.monotonic() + 45, check_server)
        metrics: list[Scrape | None] = []
        for future in metrics_futures:  # before the clients leave
            try:
                metrics.append(future.result(timeout=25))
            except Exception as error:
                log(f"metrics scrape failed: {error!r}")
                metrics.append(None)
        rss_end = rss_mb(server_process)
        for pipe in pipes:
            pipe.send(("close", None))
        with contextlib.suppress(BenchError):
            receive(pipes, "closed", time.monotonic() + 20, lambda: None)
        time.sleep(1.0)
        rss_after_close = rss_mb(server_process)
        try:
            metrics.append(scrape_metrics(host, port))
        except Exception as error:
            log(f"metrics scrape failed: {error!r}")
            metrics.append(None)
        # -- figures -------------------------------------------------------------------------
        report.update(
            summarize(args, results, samples, cpu_start, cpu_end, metrics, window_start, window_end)
        )
        in_window = [(t, v) for t, v in samples.rss_mb if t >= window_start]
        report["server_rss_mb"] = {
            "baseline": _round(rss_baseline),
            "clients_connected": _round(rss_connected),
            "start_window": _round(in_window[0][1] if in_window else None),
            "peak_window": _round(
                max((v for t, v in samples.rss_mb if t >= window_start), default=None)
            ),
            "end_window": _round(rss_end),
            "after_disconnect": _round(rss_after_close),
            "series": [  # about one sample per second, from the first handshake on
                round(v, 1)
                for i, (t, v) in enumerate(samples.rss_mb)
                if i == 0 or int(t) != int(samples.rss_mb[i - 1][0])
            ],
        }
        completed = True
        return report
    finally:
        for pipe in pipes:
            with contextlib.suppress(Exception):
                pipe.close()
        grace = time.monotonic() + (10 if completed else 0)
        for child in processes:
            child.join(timeout=max(grace - time.monotonic(), 0))
            if child.is_alive():
                child.terminate()
        for child in processes:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
        pool.shutdown(wait=False, cancel_futures=True)
        if server is not None:
            server.stop()
            count, excerpt = log_problems(server.log_text())
            server_info = report.setdefault("server", {})
            server_info["exit_code"] = server.exit_code
            server_info["log_problem_lines"] = count
            server_info["log_excerpt"] = excerpt
            server_info["log_lines"] = len(server.log_text().splitlines())
            if args.keep_data:
                server_info["data_dir"] = str(server.data_dir)
            server.cleanup()


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _latency_by_second(
    results: list[dict[str, Any]], window_start: float, window_end: float
) -> list[float | None]:
    """p50 latency (ms) of each second of the window: a rising series means a growing backlog."""
    bins = max(int(window_end - window_start), 1)
    by_second: dict[int, list[int]] = collections.defaultdict(list)
    for r in results:
        for value, at in zip(r["latency_ns"], r["latency_at"], strict=True):
            by_second[min(max(int(at / 1e9 - window_start), 0), bins - 1)].append(value)
    series: list[float | None] = []
    for k in range(bins):
        p50 = percentile(sorted(by_second[k]), 50)
        series.append(None if p50 is None else round(p50 / 1e6, 1))
    return series


def summarize(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    samples: Samples,
    cpu_start: dict[str, Any],
    cpu_end: dict[str, Any],
    metrics: list[Scrape | None],
    window_start: float,
    window_end: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Messages per second: each worker snapshots its counters on the same wall-clock seconds.
    bins = min(len(r["ticks"]) for r in results) - 1
    per_second: list[float] = []
    for k in range(bins):
        messages = 0.0
        for r in results:
            (t0, m0, _), (t1, m1, _) = r["ticks"][k], r["ticks"][k + 1]
            messages += (m1 - m0) / max(t1 - t0, 1e-6)
        per_second.append(messages)
    total_messages = sum(r["ticks"][-1][1] - r["ticks"][0][1] for r in results)
    total_bytes = sum(r["ticks"][-1][2] - r["ticks"][0][2] for r in results)
    window = max(r["ticks"][-1][0] - r["ticks"][0][0] for r in results) if bins else 0.0
    connected = sum(r["connected"] for r in results)
    out["delivered"] = {
        "messages": total_messages,
        "msgs_per_s": _round(total_messages / window if window else None, 0),
        "msgs_per_s_min": _round(min(per_second, default=None), 0),
        "msgs_per_s_max": _round(max(per_second, default=None), 0),
        "per_client_msgs_per_s": _round(
            total_messages / window / connected if window and connected else None, 2
        ),
        "mb_per_s": _round(total_bytes / window / 1e6 if window else None, 2),
        "per_second": [round(v) for v in per_second],
    }
    # Source rate on the subscribed streams, from the seq span seen by sampled connections.
    spans: dict[str, list[int]] = {}
    for r in results:
        for stream, (low, high) in r["seq_range"].items():
            span = spans.setdefault(stream, [low, high])
            span[0], span[1] = min(span[0], low), max(span[1], high)
    updates_per_s = {s: (h - lo + 1) / window for s, (lo, h) in spans.items()} if window else {}
    expected = sum(updates_per_s.values()) * connected
    out["stream_updates_per_s"] = {s: round(v, 1) for s, v in sorted(updates_per_s.items())}
    out["fanout_ratio"] = _round(total_messages / window / expected if expected else None, 3)

    # Integrity.
    def total(name: str) -> int:
        return int(sum(r[name] for r in results))

    def merged(name: str) -> dict[str, int]:
        counter: collections.Counter[str] = collections.Counter()
        for r in results:
            counter.update(r[name])
        return dict(counter.most_common(10))

    out["integrity"] = {
        "seq_gaps": total("gap_events"),
        "missing_seqs": total("missing"),
        "duplicates": total("duplicates"),
        "gap_notices": total("gap_notices"),
        "gap_notice_seqs": total("gap_notice_seqs"),
        "reset_snapshots": total("reset_snapshots"),
        "snapshots": total("snapshots"),
        "bad_frames": total("bad_frames"),
        "disconnects": merged("disconnects"),
        "closing_frames": merged("closings"),
        "error_frames": merged("errors"),
        "other_frame_types": merged("other_types"),
    }
    # Latency.
    latencies = sorted(ns / 1e6 for r in results for ns in r["latency_ns"])
    out["latency_ms"] = {
        "samples": len(latencies),
        "sampled_connections": sum(r["sampled_connections"] for r in results),
        "p50": _round(percentile(latencies, 50), 2),
        "p99": _round(percentile(latencies, 99), 2),
        "p99.9": _round(percentile(latencies, 99.9), 2),
        "max": _round(latencies[-1] if latencies else None, 2),
        "p50_by_second": _latency_by_second(results, window_start, window_end),
    }
    handshakes = sorted(v for r in results for v in r["handshake_ms"])
    out["handshake_ms"] = {
        "p50": _round(percentile(handshakes, 50)),
        "p99": _round(percentile(handshakes, 99)),
        "max": _round(handshakes[-1] if handshakes else None),
    }
    # CPU.
    wall = float(cpu_end.get("wall", 0.0) - cpu_start.get("wall", 0.0))

    def pct(start: float | None, end: float | None) -> float | None:
        if start is None or end is None or not wall:
            return None
        return round((end - start) / wall * 100, 1)

    clients = [
        pct(s, e)
        for s, e in zip(cpu_start.get("clients", []), cpu_end.get("clients", []), strict=False)
    ]
    host = None
    if "host" in cpu_start and "host" in cpu_end:
        h0, h1 = cpu_start["host"], cpu_end["host"]
        busy = (sum(h1) - h1.idle - getattr(h1, "iowait", 0)) - (
            sum(h0) - h0.idle - getattr(h0, "iowait", 0)
        )
        host = round(busy / max(sum(h1) - sum(h0), 1e-9) * 100, 1)
    out["cpu_pct"] = {
        "server": pct(cpu_start.get("server"), cpu_end.get("server")),
        "clients": round(sum(c for c in clients if c is not None), 1) if clients else None,
        "clients_per_proc": clients,
        "host_all_cores": host,
    }
    # Server-side counters (Prometheus) over the window.
    if len(metrics) >= 2 and metrics[0] and metrics[1]:
        (s0, r0, m0), (s1, r1, m1) = metrics[0], metrics[1]
        elapsed = max((s1 + r1) / 2 - (s0 + r0) / 2, 1e-6)  # counters read mid-request

        def rate(name: str) -> float | None:
            if name not in m0 or name not in m1:
                return None
            return round((m1[name] - m0[name]) / elapsed, 1)

        def delta(name: str) -> float | None:
            return None if name not in m1 else m1[name] - m0.get(name, 0.0)

        out["server_metrics"] = {
            "events_published_per_s": rate("tickcast_events_published_total"),
            "messages_delivered_per_s": rate("tickcast_messages_delivered_total"),
            "outbox_overflows": delta("tickcast_outbox_dropped_frames_total"),
            "refusals_total": m1.get("tickcast_refusals_total"),
            "connections_end_window": m1.get("tickcast_connections"),
            "connections_after_disconnect": (
                metrics[2][2].get("tickcast_connections")
                if len(metrics) > 2 and metrics[2]
                else None
            ),
            "metrics_response_ms": [round((r0 - s0) * 1000), round((r1 - s1) * 1000)],
        }
    return out


# -- output ----------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []

    def row(label: str, value: object) -> None:
        lines.append(f"  {label:<38} {value}")

    def fmt(value: object, unit: str = "") -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float) and value.is_integer() and abs(value) >= 100:
            value = int(value)
        return f"{value:,}{unit}" if isinstance(value, int | float) else f"{value}{unit}"

    server = report.get("server", {})
    lines.append("tickcast fan-out benchmark")
    row("server", f"{server.get('url')} ({server.get('mode')}, {server.get('launcher', '-')})")
    row("source", f"{report.get('source', 'external')} {report.get('server_args', '')}".strip())
    if "bus" in report:
        row("bus / workers", f"{report['bus']} / {report['workers']}")
    row("streams", ", ".join(report["streams"]))
    row(
        "clients",
        f"{report.get('connected', 0)}/{report['clients']} connected over {report['procs']} "
        f"procs ({report.get('client_loop')}), warm-up {report['warmup_s']} s, "
        f"window {report['duration_s']} s",
    )
    row(
        "connect phase",
        f"{fmt(report.get('connect_phase_s'), ' s')}; handshake ms "
        f"p50 {fmt(report.get('handshake_ms', {}).get('p50'))} "
        f"p99 {fmt(report.get('handshake_ms', {}).get('p99'))} "
        f"max {fmt(report.get('handshake_ms', {}).get('max'))}",
    )
    if report.get("connect_failures"):
        row("connect failures", report["connect_failures"])
    delivered = report.get("delivered", {})
    lines.append("throughput")
    row(
        "delivered msgs/s (all clients)",
        f"{fmt(delivered.get('msgs_per_s'))} "
        f"(per-second min {fmt(delivered.get('msgs_per_s_min'))}, "
        f"max {fmt(delivered.get('msgs_per_s_max'))})",
    )
    row("per client msgs/s", fmt(delivered.get("per_client_msgs_per_s")))
    row("delivered MB/s", fmt(delivered.get("mb_per_s")))
    row("stream updates/s (source)", report.get("stream_updates_per_s"))
    row("fan-out ratio (delivered/expected)", fmt(report.get("fanout_ratio")))
    metrics = report.get("server_metrics")
    if metrics:
        row("server events published/s", fmt(metrics.get("events_published_per_s")))
        row("server frames delivered/s", fmt(metrics.get("messages_delivered_per_s")))
        row("server outbox overflows (window)", fmt(metrics.get("outbox_overflows")))
        row(
            "server connections end / after close",
            f"{fmt(metrics.get('connections_end_window'))} / "
            f"{fmt(metrics.get('connections_after_disconnect'))}",
        )
        row("GET /metrics response ms (start, end)", metrics.get("metrics_response_ms"))
    latency = report.get("latency_ms", {})
    lines.append(
        f"trade latency, publish->receive (ms; {fmt(latency.get('samples'))} samples on "
        f"{latency.get('sampled_connections')} connections)"
    )
    row("p50 by second of the window", latency.get("p50_by_second"))
    row(
        "p50 / p99 / p99.9 / max",
        " / ".join(fmt(latency.get(k)) for k in ("p50", "p99", "p99.9", "max")),
    )
    integrity = report.get("integrity", {})
    lines.append("integrity (whole run, all connections; expect 0)")
    row("seq gaps (missing seqs)", f"{integrity.get('seq_gaps')} ({integrity.get('missing_seqs')})")
    row("duplicates", integrity.get("duplicates"))
    row(
        "Gap notices (seqs) / reset snapshots",
        f"{integrity.get('gap_notices')} ({integrity.get('gap_notice_seqs')}) / "
        f"{integrity.get('reset_snapshots')}",
    )
    row("unexpected disconnects", integrity.get("disconnects") or 0)
    for name in ("closing_frames", "error_frames", "other_frame_types"):
        if integrity.get(name):
            row(name.replace("_", " "), integrity[name])
    if integrity.get("bad_frames"):
        row("unparsable frames", integrity["bad_frames"])
    rss = report.get("server_rss_mb", {})
    lines.append("server memory (RSS MB)")
    row(
        "baseline / connected / peak",
        " / ".join(fmt(rss.get(k)) for k in ("baseline", "clients_connected", "peak_window")),
    )
    row(
        "window start / end / after disconnect",
        " / ".join(fmt(rss.get(k)) for k in ("start_window", "end_window", "after_disconnect")),
    )
    cpu = report.get("cpu_pct", {})
    lines.append(f"cpu % over the window (100 = one core; {report['cpu_count']} cores)")
    row("server", fmt(cpu.get("server")))
    row("clients (sum; per proc)", f"{fmt(cpu.get('clients'))}; {cpu.get('clients_per_proc')}")
    row("host, all cores", fmt(cpu.get("host_all_cores")))
    if "log_problem_lines" in server:
        lines.append("server log")
        row(
            "lines / warning+error lines",
            f"{server.get('log_lines')} / {server['log_problem_lines']}",
        )
        row("exit code", server.get("exit_code"))
        for line in server.get("log_excerpt", [])[:10]:
            lines.append(f"    | {line}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="tickcast fan-out benchmark: N native clients on the same shared streams."
    )
    target = parser.add_argument_group("server")
    target.add_argument(
        "--source", default="simulator:stress", help="server --source (default simulator:stress)"
    )
    target.add_argument("--server-cpu", type=int, help="pin the server to this CPU (taskset)")
    target.add_argument(
        "--server-log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    target.add_argument(
        "--server-args",
        default="",
        help="extra serve flags, e.g. '--history-size 100 --outbox-bytes 65536'",
    )
    target.add_argument(
        "--bus",
        default="memory",
        help="memory (default), redis (a private redis-server for the run) or a redis:// URL",
    )
    target.add_argument(
        "--workers", type=int, default=1, help="server worker processes (needs a Redis bus)"
    )
    target.add_argument("--url", help="target a running server (http://127.0.0.1:PORT)")
    target.add_argument("--key", help="API key for --url (its plan must allow --clients)")
    target.add_argument("--server-pid", type=int, help="with --url: sample this pid's RSS/CPU")
    target.add_argument("--startup-timeout", type=float, default=60.0)
    target.add_argument(
        "--keep-data", action="store_true", help="keep the temporary data dir and server logs"
    )
    clients = parser.add_argument_group("clients")
    clients.add_argument("--clients", type=int, default=1000)
    clients.add_argument("--procs", type=int, default=2, help="client worker processes")
    clients.add_argument("--streams", default=DEFAULT_STREAMS, help="comma-separated streams")
    clients.add_argument("--handshakes", type=int, default=64, help="max handshakes in flight")
    clients.add_argument("--connect-timeout", type=float, default=60.0)
    clients.add_argument(
        "--latency-every",
        type=int,
        default=10,
        help="measure latency on 1 connection in N (default 10)",
    )
    clients.add_argument("--client-cpus", help="pin client workers, e.g. 1 or 0-1")
    clients.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate (off by default)"
    )
    clients.add_argument("--no-uvloop", action="store_true", help="plain asyncio in clients")
    timing = parser.add_argument_group("timing")
    timing.add_argument("--warmup", type=float, default=3.0)
    timing.add_argument("--duration", type=float, default=10.0)
    timing.add_argument(
        "--sample-interval", type=float, default=0.2, help="server RSS sampling interval in seconds"
    )
    timing.add_argument(
        "--settle", type=float, default=1.0, help="idle seconds before the baseline RSS sample"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout (the table goes to stderr)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.url and not args.key:
        raise SystemExit("--url needs --key")
    if args.clients < 1 or args.procs < 1 or args.duration < 1 or args.latency_every < 1:
        raise SystemExit("--clients, --procs, --latency-every and --duration must be >= 1")
    args.procs = min(args.procs, args.clients)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        report = run(args)
    except KeyboardInterrupt:
        log("interrupted; server and workers stopped")
        return 130
    except BenchError as error:
        log(f"failed: {error}")
        return 1
    table = render(report)
    if args.json:
        print(table, file=sys.stderr)
        print(orjson.dumps(report).decode())
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
