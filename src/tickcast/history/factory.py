"""The history setting to a store: SQLite under the data directory, PostgreSQL, or off."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from tickcast.errors import ConfigError
from tickcast.history.base import HistoryStore

HISTORY_FILE = "history.sqlite3"


def history_opener(
    setting: str, *, data_dir: str, store_url: str = ""
) -> Callable[[], HistoryStore] | None:
    """A function making a new (unopened) store for ``setting``, or None when history is off.

    ``""`` (the default) is the keys store's PostgreSQL database when ``store_url`` is one,
    else ``<data_dir>/history.sqlite3``; ``off``; ``sqlite:///PATH``; ``postgresql://...``.
    """
    if setting == "off":
        return None
    if setting == "" and store_url.startswith(("postgresql://", "postgres://")):
        setting = store_url
    if setting in ("", "sqlite", "sqlite://"):
        return partial(_sqlite, Path(data_dir) / HISTORY_FILE)
    if setting.startswith("sqlite:///"):
        return partial(_sqlite, Path(setting.removeprefix("sqlite:///")))
    if setting.startswith(("postgresql://", "postgres://")):
        return partial(_postgres, setting)
    raise ConfigError("config key 'history': expected off, sqlite:///PATH or postgresql://...")


def _sqlite(path: Path) -> HistoryStore:
    from tickcast.history.sqlite import SqliteHistory

    return SqliteHistory(path)


def _postgres(url: str) -> HistoryStore:
    from tickcast.history.postgres import PostgresHistory

    return PostgresHistory(url)
