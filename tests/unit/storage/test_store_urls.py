"""Choosing the store from its URL: factory, redaction and the ``store`` setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickcast.auth.plans import load_plans
from tickcast.clock import ManualClock
from tickcast.config import load
from tickcast.errors import ConfigError
from tickcast.storage.factory import open_store
from tickcast.storage.postgres import PostgresStore
from tickcast.storage.sqlite import SqliteStore, default_db_path
from tickcast.storage.urls import redact, sqlite_path, store_kind


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, "sqlite"),
        ("", "sqlite"),
        ("sqlite", "sqlite"),
        ("sqlite:///db.sqlite3", "sqlite"),
        ("postgresql://u:p@h:5432/d", "postgresql"),
        ("postgres://h/d", "postgresql"),
    ],
)
def test_store_kind(url: str | None, kind: str) -> None:
    assert store_kind(url) == kind


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/d", "postgresql:/h", "redis://h"])
def test_store_kind_refuses_other_urls_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="postgresql://USER") as info:
        store_kind(url)
    assert "s3cret" not in info.value.message


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://tc:s3cret@db:5432/tick") == "postgresql://tc:***@db:5432/tick"
    assert redact("postgresql://db/tick") == "postgresql://db/tick"


def test_sqlite_paths(tmp_path: Path) -> None:
    assert sqlite_path(None, tmp_path) is None
    assert sqlite_path("sqlite:///rel.db", tmp_path) == Path("rel.db")
    assert sqlite_path("sqlite:////abs/x.db", tmp_path) == Path("/abs/x.db")


async def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    """Default: SQLite in the data dir (created); sqlite:///PATH; postgresql:// without I/O."""
    plans, clock = load_plans(), ManualClock()
    default = open_store("", data_dir=tmp_path / "d", plans=plans, clock=clock)
    assert isinstance(default, SqliteStore) and default_db_path(tmp_path / "d").exists()
    await default.close()
    explicit = open_store(
        f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path, plans=plans, clock=clock
    )
    assert isinstance(explicit, SqliteStore) and (tmp_path / "x.db").exists()
    await explicit.close()
    pg = open_store("postgresql://u:p@127.0.0.1:1/d", data_dir=tmp_path, plans=plans, clock=clock)
    assert isinstance(pg, PostgresStore)
    await pg.close()


def test_config_store_layers(tmp_path: Path) -> None:
    """``store`` comes from TOML, TICKCAST_STORE or the flag; a bad one never echoes a password."""
    file = tmp_path / "t.toml"
    file.write_text('[server]\nstore = "postgresql://a@h/d"\n')
    assert load(file=file, environ={}).store == "postgresql://a@h/d"
    env = {"TICKCAST_STORE": "postgresql://b@h/d"}
    assert load(file=file, environ=env).store == "postgresql://b@h/d"
    assert load(environ=env, overrides={"store": "sqlite:///x"}).store == "sqlite:///x"
    assert load(environ={}).store == ""
    assert "s3cret" not in repr(load(environ={"TICKCAST_STORE": "postgresql://u:s3cret@h/d"}))
    with pytest.raises(ConfigError, match="'store'") as info:
        load(environ={"TICKCAST_STORE": "mysql://u:s3cret@h/d"})
    assert "s3cret" not in info.value.message
