"""Finding and reading recorded files: paths, compression, format detection, record streams.

Each reader yields ``(local_ns, format, item)`` in file order; ``records`` merges the files of one
source by local time (stable: equal times keep file order). Formats: ``binance`` (raw capture
lines), ``tardis`` (CSV), ``recording`` (tickcast's own).
"""

from __future__ import annotations

import csv
import glob
import gzip
import heapq
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tickcast.errors import ConfigError
from tickcast.sources.replay import binance, recording, tardis

logger = logging.getLogger("tickcast.sources.replay")

Record = tuple[int, str, Any]
"""(local receive time ns, format, parsed item)."""

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


def expand(path: str) -> list[Path]:
    """The files a replay PATH names: a file, a directory's files, or a glob's matches."""
    path = str(Path(path).expanduser())
    if glob.has_magic(path):
        files = [Path(p) for p in sorted(glob.glob(path)) if Path(p).is_file()]
    elif Path(path).is_dir():
        files = sorted(p for p in Path(path).iterdir() if p.is_file() and _data_file(p))
    else:
        files = [Path(path)] if Path(path).is_file() else []
    if not files:
        raise ConfigError(f"config key 'sources': replay path {path!r} names no readable file")
    return files


def _data_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() not in (".md", ".txt", "")


def open_text(path: Path) -> IO[str]:
    """Open a plain or gzip-compressed text file."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic.startswith(_ZSTD):
        raise ConfigError(f"replay file {str(path)!r} is zstd-compressed; decompress it first")
    if magic.startswith(_GZIP):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def detect(path: Path) -> str:
    """``binance``, ``tardis`` or ``recording``, from the file's first line."""
    try:
        with open_text(path) as stream:
            first = stream.readline()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ConfigError(f"replay file {str(path)!r} cannot be read: {error}") from None
    if recording.is_recording(first):
        return "recording"
    if binance.looks_like_capture(first):
        return "binance"
    if tardis.data_type(next(csv.reader([first]), [])) is not None:
        return "tardis"
    raise ConfigError(
        f"replay file {str(path)!r}: unknown format (expected a Binance capture, "
        "a Tardis CSV with a header, or a tickcast recording)"
    )


def lines(path: Path) -> Iterator[str]:
    """The file's lines; a truncated gzip file (a recorder killed hard) ends early, logged."""
    with open_text(path) as stream:
        try:
            yield from stream
        except EOFError:
            logger.warning("replay: %s is truncated; replaying what was written", path)


def read(path: Path, fmt: str) -> Iterator[Record]:
    """Records of one file in file order."""
    if fmt == "binance":
        for line in lines(path):
            parsed = binance.parse_line(line)
            if parsed is not None:
                yield parsed[0], fmt, parsed[1]
    elif fmt == "tardis":
        rows = csv.DictReader(lines(path))
        kind = tardis.data_type(rows.fieldnames or [])
        if kind == "incremental_book_L2":
            for group in tardis.group_book_rows(rows):
                yield tardis.local_ns(group[0]), fmt, (kind, group)
        else:
            for row in rows:
                yield tardis.local_ns(row), fmt, (kind, [row])
    else:
        stream = lines(path)
        next(stream, None)
        for line in stream:
            if line.strip():
                item = json.loads(line)
                yield int(item["t"]), fmt, item


def records(files: list[tuple[Path, str]]) -> Iterator[Record]:
    """Every record of a source's files, merged by local time."""
    return heapq.merge(*(read(path, fmt) for path, fmt in files), key=lambda r: r[0])
