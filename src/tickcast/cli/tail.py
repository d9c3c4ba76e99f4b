"""``tickcast tail STREAM...``: print live messages, readable (or as JSON lines with --json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from tickcast.client import Client, Gap, Reset, Snapshot, Update
from tickcast.errors import TickcastError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tail", help="print live messages of streams")
    parser.add_argument("streams", nargs="+", metavar="STREAM")
    parser.add_argument("--url", default=os.environ.get("TICKCAST_URL", "ws://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("TICKCAST_KEY"))
    parser.add_argument("--depth", type=int, help="book depth limit")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--count", type=int, help="stop after this many messages")
    parser.set_defaults(func=run)


def describe(message: object) -> str:
    """One readable line for a message."""
    match message:
        case Update(stream=stream, seq=seq, data=data):
            return f"{stream} #{seq} {_summary(stream, data, update=True)}"
        case Snapshot(stream=stream, seq=seq, data=data, reset=reset):
            label = "RESET SNAPSHOT" if reset else "snapshot"
            return f"{stream} #{seq} {label} {_summary(stream, data)}"
        case Gap(stream=stream, from_seq=low, to_seq=high, reason=reason):
            return f"{stream} GAP {low}..{high} ({reason})"
        case Reset(stream=stream, reason=reason):
            return f"{stream} RESET ({reason})"
    return repr(message)


def _levels(levels: list[list[str]]) -> str:
    shown = ", ".join(
        f"{size} @ {price}" if size != "0" else f"del @ {price}" for price, size in levels[:3]
    )
    return shown + (", ..." if len(levels) > 3 else "")


def _summary(stream: str, data: dict[str, Any], *, update: bool = False) -> str:
    if stream.startswith("trades:"):
        return f"{data['side'].upper():4} {data['size']} @ {data['price']}  {data['time']}"
    if stream.startswith("book:"):
        bids, asks = data.get("bids", []), data.get("asks", [])
        if update:
            return f"bids [{_levels(bids)}] asks [{_levels(asks)}]"
        best_bid = f"{bids[0][1]} @ {bids[0][0]}" if bids else "-"
        best_ask = f"{asks[0][1]} @ {asks[0][0]}" if asks else "-"
        return f"{len(bids)} bids (best {best_bid}) / {len(asks)} asks (best {best_ask})"
    return json.dumps(data, separators=(",", ":"))


async def _tail(args: argparse.Namespace) -> int:
    seen = 0
    async with Client(args.url, args.key) as client:
        async for message in client.subscribe(args.streams, depth=args.depth):
            if args.json:
                print(json.dumps(_as_dict(message), separators=(",", ":")), flush=True)
            else:
                print(describe(message), flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    return 0


def _as_dict(message: object) -> dict[str, Any]:
    fields = getattr(message, "__dataclass_fields__", {})
    return {"type": type(message).__name__, **{name: getattr(message, name) for name in fields}}


def run(args: argparse.Namespace) -> int:
    if not args.key:
        print("tickcast tail: --key (or TICKCAST_KEY) is required", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_tail(args))
    except KeyboardInterrupt:
        return 130
    except (TickcastError, OSError) as error:
        print(f"tickcast tail: {error}", file=sys.stderr)
        return 1
