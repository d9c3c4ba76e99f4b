"""``tickcast markets``: the markets a server publishes, with their tick and lot sizes.

Live connectors list the venue's instruments under Coin Metrics names with the venue's real tick
and lot sizes (docs/connectors.md); the simulator and replays list theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tickcast.cli.record import list_markets


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("markets", help="list the markets a server publishes")
    parser.add_argument("--url", default=os.environ.get("TICKCAST_URL", "ws://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("TICKCAST_KEY"))
    parser.add_argument("--exchange", help="only this exchange's markets (e.g. binance)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def table(markets: list[dict[str, Any]]) -> list[str]:
    """Aligned lines: id, kind, venue symbol, tick and lot."""
    rows = [("MARKET", "KIND", "SYMBOL", "TICK", "LOT")] + [
        (m["id"], m["kind"], m["symbol"], m["tick"], m["lot"]) for m in markets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def run(args: argparse.Namespace) -> int:
    if not args.key:
        print("tickcast markets: --key (or TICKCAST_KEY) is required", file=sys.stderr)
        return 2
    try:
        markets = list_markets(args.url, args.key)
    except OSError as error:
        print(f"tickcast markets: cannot list the server's markets: {error}", file=sys.stderr)
        return 1
    if args.exchange:
        markets = [m for m in markets if m["exchange"] == args.exchange]
    markets.sort(key=lambda m: m["id"])
    for line in (json.dumps(m) for m in markets) if args.json else table(markets):
        print(line)
    return 0
