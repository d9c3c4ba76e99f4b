"""``tickcast serve``: one port for every dialect, the control plane and metrics."""

from __future__ import annotations

import argparse
import sys

from tickcast.config import load
from tickcast.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the server")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--data-dir", help="SQLite database and state (default ./data)")
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument(
        "--source",
        action="append",
        help="event source: simulator (default), simulator:stress, simulator:rate=N, "
        "bench:rate=N|max (benchmarks only, docs/performance.md)",
    )
    parser.add_argument("--seed", type=int, help="simulator seed (default 1)")
    parser.add_argument("--history-size", type=int, help="events kept per stream for resume")
    parser.add_argument("--outbox-bytes", type=int, help="per-connection outbox budget")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tickcast.server.run import serve

    overrides = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "sources": args.source,
        "seed": args.seed,
        "history_size": args.history_size,
        "outbox_bytes": args.outbox_bytes,
        "log_level": args.log_level,
    }
    try:
        config = load(file=args.config, overrides=overrides)
        serve(config)
    except ConfigError as error:
        print(f"tickcast: {error.message}", file=sys.stderr)
        return 2
    return 0
