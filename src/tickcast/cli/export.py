"""``tickcast export STREAM... --from T --to T --out FILE.parquet``: history to Parquet.

Reads the history store the server's configuration names (``history``, else the store's
PostgreSQL, else ``<data_dir>/history.sqlite3``; ``--history`` overrides), one row per event in
each stream's time order, streams one after another (docs/history.md#export). Exit codes: 0
written, 1 storage error, 2 bad arguments or configuration (or the ``history`` extra missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from tickcast.cli.keys import config_of
from tickcast.config import load
from tickcast.errors import ConfigError, StorageError
from tickcast.features import require
from tickcast.model.timefmt import parse_rfc3339_ns

if TYPE_CHECKING:  # the history package needs the server extras: imported when run
    from tickcast.history.base import HistoryStore
    from tickcast.history.rows import Row

CHUNK = 50_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "export",
        help="export stored history to a Parquet file",
        description="Export the history of streams to a Parquet file (one row per event).",
    )
    command.add_argument("streams", nargs="+", metavar="STREAM", help="stream keys")
    command.add_argument("--from", dest="start", default=None, help="RFC 3339 start (inclusive)")
    command.add_argument("--to", dest="end", default=None, help="RFC 3339 end (inclusive)")
    command.add_argument("--out", required=True, help="the Parquet file to write")
    command.add_argument("--history", default=None, help="history store (default: as the server)")
    command.add_argument("--data-dir", default=None, help="data directory (default: as the server)")
    command.add_argument("--config", default=None, help="TOML configuration file")
    command.set_defaults(func=export_command)


def _opener(args: argparse.Namespace) -> HistoryStore:
    from tickcast.history.factory import history_opener

    overrides = {"log_level": "warning"}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.history is not None:
        overrides["history"] = args.history
    config = load(file=config_of(args), environ=os.environ, overrides=overrides)
    opener = history_opener(config.history, data_dir=config.data_dir, store_url=config.store)
    if opener is None:
        raise ConfigError("history is off: nothing to export")
    return opener()


def _bounds(args: argparse.Namespace) -> tuple[int | None, int | None]:
    try:
        start = parse_rfc3339_ns(args.start) if args.start else None
        end = parse_rfc3339_ns(args.end) if args.end else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return start, end


async def _export(args: argparse.Namespace, store: HistoryStore) -> int:
    from tickcast.history.export import columns_for
    from tickcast.history.parquet import write_parquet  # the history extra
    from tickcast.history.rows import kind_of

    start, end = _bounds(args)

    async def chunks() -> AsyncIterator[list[Row]]:
        for stream in args.streams:
            after = None
            while rows := await store.range(stream, start, end, limit=CHUNK, after=after):
                yield rows
                after = rows[-1].id

    await store.open()
    try:
        columns = columns_for(kind_of(stream) for stream in args.streams)
        return await write_parquet(chunks(), columns, Path(args.out))
    finally:
        await store.close()


def export_command(args: argparse.Namespace) -> int:
    try:
        require("server", "tickcast export")
        require("history", "tickcast export")
        from tickcast.history.rows import valid_stream

        bad = [stream for stream in args.streams if not valid_stream(stream)]
        if bad:
            raise ConfigError(f"not a stream key: {bad[0]!r}")
        _bounds(args)
        store = _opener(args)
        count = asyncio.run(_export(args, store))
    except ConfigError as exc:
        print(f"tickcast export: {exc.message}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"tickcast export: {exc.message}", file=sys.stderr)
        return 1
    print(f"{count} events written to {args.out}")
    return 0
