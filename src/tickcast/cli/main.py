"""``tickcast``: argument parsing and sub-command dispatch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tickcast.cli import db, export, keys, markets, models, record, serve, tail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickcast", description="Self-hosted real-time market-data streaming server."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    serve.register(subparsers)
    keys.register(subparsers)
    tail.register(subparsers)
    markets.register(subparsers)
    record.register(subparsers)
    db.register(subparsers)
    models.register(subparsers)
    export.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
