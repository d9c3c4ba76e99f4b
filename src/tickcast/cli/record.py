"""``tickcast record STREAM... --out FILE``: record streams into a replayable file.

Subscribes through the SDK and writes a tickcast recording (``sources/replay/recording.py``,
documented in docs/sources.md): a header line with the streams and their markets' number
formats, then one JSON line per message with its local receive time. gzip-compressed when
``--out`` ends in ``.gz``. Stops on SIGINT/SIGTERM, after ``--duration`` seconds or after
``--count`` data messages, always leaving a complete file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

from tickcast.client import ChecksumMismatch, Client, Gap, Snapshot, Update, ws_url
from tickcast.errors import TickcastError
from tickcast.model import StreamKey
from tickcast.sources.replay.recording import RECORDABLE, encode, header

FLUSH_EVERY = 1000
"""Messages between flushes of the output file."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("record", help="record streams to a replayable file")
    parser.add_argument("streams", nargs="+", metavar="STREAM", help="trades:, book:, quotes:")
    parser.add_argument("--out", required=True, help="output file (.gz: gzip-compressed)")
    parser.add_argument("--url", default=os.environ.get("TICKCAST_URL", "ws://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("TICKCAST_KEY"))
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--count", type=int, help="stop after this many Snapshot/Update messages")
    parser.set_defaults(func=run)


def http_base(url: str) -> str:
    """The control plane's base URL of a server given by its WebSocket (or HTTP) URL."""
    parts = urlsplit(ws_url(url))
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def check_streams(streams: list[str]) -> list[StreamKey]:
    """Parsed stream keys; ValueError naming one a recording cannot replay."""
    keys = []
    for text in streams:
        key = StreamKey.parse(text)
        if key.kind not in RECORDABLE or key.market is None:
            kinds = ", ".join(kind.value for kind in RECORDABLE)
            raise ValueError(f"cannot record {text!r}: only {kinds} streams of a market")
        keys.append(key)
    return keys


def list_markets(url: str, key: str) -> list[dict[str, Any]]:
    """Every market of the server's catalogue (``GET /api/v1/markets``)."""
    # the standard library's HTTP client: the SDK and its commands need nothing but websockets
    request = Request(f"{http_base(url)}/api/v1/markets", headers={"X-API-Key": key})
    with urlopen(request, timeout=10) as response:  # HTTPError (an OSError) on 4xx/5xx
        listed: list[dict[str, Any]] = json.loads(response.read())
    return listed


def fetch_markets(url: str, key: str, wanted: set[str]) -> list[dict[str, Any]]:
    """The catalogue entries of ``wanted`` markets from the server's control plane."""
    markets = [m for m in list_markets(url, key) if m["id"] in wanted]
    missing = wanted - {m["id"] for m in markets}
    if missing:
        raise ValueError(f"the server has no market {', '.join(sorted(missing))}")
    return markets


def to_record(message: object, local_ns: int) -> dict[str, Any] | None:
    """The recording line of an SDK message (None for what a recording does not keep)."""
    match message:
        case Snapshot():
            item: dict[str, Any] = {
                "t": local_ns,
                "stream": message.stream,
                "type": "snapshot",
                "seq": message.seq,
                "data": message.data,
            }
            if message.checksum is not None:
                item["checksum"] = message.checksum
            if message.reset:
                item["reset"] = True
            return item
        case Update():
            item = {
                "t": local_ns,
                "stream": message.stream,
                "type": "update",
                "seq": message.seq,
                "data": message.data,
            }
            if message.checksum is not None:
                item["checksum"] = message.checksum
            return item
        case Gap():
            return {
                "t": local_ns,
                "stream": message.stream,
                "type": "gap",
                "from": message.from_seq,
                "to": message.to_seq,
                "reason": message.reason,
            }
    return None


def open_output(path: str) -> IO[str]:
    if path.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=6)
    return Path(path).open("w", encoding="utf-8")


class Recorder:
    """Writes messages to an open recording and counts them."""

    def __init__(self, out: IO[str], *, count: int | None) -> None:
        self.out = out
        self.count = count
        self.messages = 0
        self.done = asyncio.Event()

    def write(self, message: object) -> None:
        if isinstance(message, ChecksumMismatch):
            print(f"tickcast record: checksum mismatch on {message.stream}", file=sys.stderr)
        item = to_record(message, time.time_ns())
        if item is None:
            return
        self.out.write(encode(item) + "\n")
        if isinstance(message, Snapshot | Update):
            self.messages += 1
            if self.messages % FLUSH_EVERY == 0:
                self.out.flush()
            if self.count is not None and self.messages >= self.count:
                self.done.set()

    async def consume(self, client: Client, streams: list[str]) -> None:
        async for message in client.subscribe(streams):
            self.write(message)
            if self.done.is_set():
                return


async def _record(args: argparse.Namespace, markets: list[dict[str, Any]]) -> int:
    with contextlib.closing(open_output(args.out)) as out:
        head = header(streams=args.streams, markets=markets, url=args.url, now_ns=time.time_ns())
        out.write(encode(head) + "\n")
        out.flush()
        recorder = Recorder(out, count=args.count)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, recorder.done.set)
        async with Client(args.url, args.key) as client:
            consumer = asyncio.create_task(recorder.consume(client, args.streams))
            stopper = asyncio.create_task(recorder.done.wait())
            await asyncio.wait(
                {consumer, stopper}, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (consumer, stopper):
                task.cancel()
            await asyncio.gather(consumer, stopper, return_exceptions=True)
            if consumer.done() and not consumer.cancelled() and consumer.exception():
                raise consumer.exception()  # type: ignore[misc]
    print(f"tickcast record: {recorder.messages} messages to {args.out}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if not args.key:
        print("tickcast record: --key (or TICKCAST_KEY) is required", file=sys.stderr)
        return 2
    try:
        keys = check_streams(args.streams)
        markets = fetch_markets(args.url, args.key, {k.market for k in keys if k.market})
    except ValueError as error:
        print(f"tickcast record: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"tickcast record: cannot list the server's markets: {error}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_record(args, markets))
    except (TickcastError, OSError) as error:
        print(f"tickcast record: {error}", file=sys.stderr)
        return 1
