"""``--workers N``: N server processes on one port (SO_REUSEPORT), sharing a Redis bus.

The parent reserves the port (so ``--port 0`` works), starts the workers with the ``spawn``
method and supervises them: SIGTERM or SIGINT is passed on to every worker (each closes its
clients with 1012 and exits); if one worker dies the others are stopped too and the parent exits
non-zero, so a service manager restarts the whole set. Worker 0 keeps the configured role (with
``all`` it also runs the sources); the others are gateways. The kernel spreads new connections
over the workers; clients resume on any of them because they share seqs and history.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from tickcast.config import ServerConfig


def _worker(config: ServerConfig, index: int) -> None:
    from tickcast.app.run import serve

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops uvicorn
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the server reloads TLS on it (run.py)
    serve(config, reuse_port=True, announce=index == 0)


def worker_configs(config: ServerConfig, port: int) -> list[ServerConfig]:
    """Each worker's configuration: the shared port, worker 0 in the node's role, then gateways."""
    first = dataclasses.replace(config, port=port, workers=1)
    rest = dataclasses.replace(first, role="gateway")
    return [first] + [rest] * (config.workers - 1)


def serve_workers(config: ServerConfig) -> int:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    reserve = socket.socket(family)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((config.host, config.port))  # bound, never listening: gets no connections
    host, port = reserve.getsockname()[:2]
    context = mp.get_context("spawn")
    workers: list[BaseProcess] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def reload(signum: int, frame: FrameType | None) -> None:
        for process in workers:  # each worker reloads its TLS certificate
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    try:
        for index, worker_config in enumerate(worker_configs(config, port)):
            started = context.Process(
                target=_worker, args=(worker_config, index), name=f"tickcast-worker-{index}"
            )
            started.start()
            workers.append(started)
        scheme = "https" if config.tls_cert else "http"
        print(
            f"tickcast listening on {scheme}://{host}:{port} with {len(workers)} workers "
            "(docs: /docs)",
            flush=True,
        )
        while not stopping and all(process.is_alive() for process in workers):
            time.sleep(0.2)
    finally:
        reserve.close()
        _stop_workers(workers)
    if not stopping:
        print("tickcast: a worker exited; stopped the others", file=sys.stderr, flush=True)
    return 0 if stopping else 1


def _stop_workers(workers: list[BaseProcess]) -> None:
    """SIGTERM every worker, wait up to 15 s in all, then SIGKILL the ones still alive."""
    for process in workers:
        if process.is_alive() and process.pid is not None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in workers:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(5)
