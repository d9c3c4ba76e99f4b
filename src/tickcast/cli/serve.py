"""``tickcast serve``: one port for every dialect, the control plane and metrics."""

from __future__ import annotations

import argparse
import sys

from tickcast import features
from tickcast.config import ServerConfig, load
from tickcast.errors import ConfigError
from tickcast.sources.replay import with_defaults
from tickcast.storage.urls import store_kind


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the server")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--data-dir", help="SQLite database and state (default ./data)")
    parser.add_argument(
        "--store",
        help="store URL: postgresql://USER:PASSWORD@HOST:PORT/DB, or sqlite:///PATH "
        "(default: SQLite in the data dir)",
    )
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument(
        "--source",
        action="append",
        help="event source: simulator (default), simulator:stress, simulator:rate=N, "
        "replay:PATH[,speed=1|10|max][,loop][,wait=N] (repeatable; docs/sources.md), "
        "bench:rate=N|max (benchmarks only, docs/performance.md)",
    )
    parser.add_argument("--speed", help="replay speed: 1 (real time, default), 10, ... or max")
    parser.add_argument("--loop", action="store_true", help="replay sources start over at the end")
    parser.add_argument(
        "--wait", type=int, help="replay sources start once N stream subscriptions exist"
    )
    parser.add_argument("--seed", type=int, help="simulator seed (default 1)")
    parser.add_argument("--history-size", type=int, help="events kept per stream for resume")
    parser.add_argument("--outbox-bytes", type=int, help="per-connection outbox budget")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--bus", help="memory (default) or redis://HOST:PORT/DB[,redis://...] shared by nodes"
    )
    parser.add_argument(
        "--role",
        choices=["all", "ingest", "gateway"],
        help="with a Redis bus: ingest runs sources, gateway serves clients, all both (default)",
    )
    parser.add_argument(
        "--workers", type=int, help="gateway processes on one port (SO_REUSEPORT; Redis bus)"
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve https:// and wss://")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert (reloaded on SIGHUP)")
    parser.set_defaults(func=run)


def check_installed(config: ServerConfig) -> None:
    """Before the server is imported: the extras the configuration chooses are installed and the
    libraries whose internals the server uses are in their supported ranges (docs/installing.md)."""
    features.require("server", "tickcast serve")
    features.check_supported()
    if config.bus != "memory":
        features.require("redis", "the Redis bus (--bus redis://...)")
    if store_kind(config.store) == "postgresql":
        features.require("postgres", "the PostgreSQL store (--store postgresql://...)")
    if config.predictions == "on":
        features.require("predict", 'predictions (predictions = "on")')


def run(args: argparse.Namespace) -> int:
    overrides = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "store": args.store,
        "sources": args.source
        and [
            with_defaults(s, speed=args.speed, loop=args.loop, wait=args.wait) for s in args.source
        ],
        "seed": args.seed,
        "history_size": args.history_size,
        "outbox_bytes": args.outbox_bytes,
        "log_level": args.log_level,
        "bus": args.bus,
        "role": args.role,
        "workers": args.workers,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
    }
    try:
        config = load(file=args.config, overrides=overrides)
        check_installed(config)
        from tickcast.app.run import serve
        from tickcast.app.workers import serve_workers

        if config.workers > 1:
            return serve_workers(config)
        serve(config)
    except ConfigError as error:
        print(f"tickcast: {error.message}", file=sys.stderr)
        return 2
    return 0
