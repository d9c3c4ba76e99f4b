"""The ``tickcast keys`` CLI: create, list and revoke against a temporary data dir."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from tickcast.auth.keys import key_id, looks_like_key
from tickcast.auth.plans import load_plans
from tickcast.cli import keys as cli_keys
from tickcast.clock import ManualClock
from tickcast.storage.sqlite import SqliteStore, default_db_path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli_keys.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(cli_keys.CONFIG_ENV, raising=False)
    monkeypatch.delenv(cli_keys.STORE_ENV, raising=False)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tickcast")
    cli_keys.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", *argv])
    result: int = args.func(args)
    return result


def create(capsys: pytest.CaptureFixture[str], data: Path, *extra: str) -> str:
    code = run("create", "--user", "alice", "--plan", "pro", "--data-dir", str(data), *extra)
    out = capsys.readouterr().out
    assert code == 0
    return out


def test_cli_keys_create_prints_only_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """create prints the key alone on stdout, and the key authenticates."""
    data = tmp_path / "data"
    out = create(capsys, data)
    key = out.strip()
    assert out == key + "\n" and looks_like_key(key) and key.startswith("tc_live_")

    async def check() -> None:
        async with SqliteStore(
            path=default_db_path(data), plans=load_plans(), clock=ManualClock()
        ) as store:
            principal = await store.authenticate(key)
            assert principal is not None
            assert (principal.user, principal.plan.name) == ("alice", "pro")

    asyncio.run(check())


def test_cli_keys_create_prefix_and_scope(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--prefix and --scope reach the new key."""
    key = create(capsys, tmp_path, "--prefix", "ci_test_", "--scope", "publish").strip()
    assert key.startswith("ci_test_")
    assert run("list", "--data-dir", str(tmp_path)) == 0
    assert "ci_test_" in capsys.readouterr().out


def test_cli_keys_create_unknown_plan_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An unknown plan is refused on stderr with the valid plans, exit 2, nothing created."""
    code = run("create", "--user", "a", "--plan", "gold", "--data-dir", str(tmp_path / "d"))
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "gold" in captured.err and "free, pro, publisher, admin" in captured.err
    assert not (tmp_path / "d").exists()


def test_cli_keys_create_bad_prefix_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An invalid prefix is a usage error."""
    code = run(
        "create", "--user", "a", "--plan", "pro", "--prefix", "x_", "--data-dir", str(tmp_path)
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "prefix" in captured.err


def test_cli_keys_create_existing_user_keeps_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """For an existing user with another plan, only the new key gets --plan."""
    create(capsys, tmp_path)
    code = run("create", "--user", "alice", "--plan", "free", "--data-dir", str(tmp_path))
    capsys.readouterr()
    assert code == 0
    assert run("list", "--data-dir", str(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["plan", "pro", "free"]


def test_cli_keys_list_never_prints_secrets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """list shows key id, user, plan, prefix, ISO time and revoked, but no key or hash."""
    key = create(capsys, tmp_path).strip()
    assert run("list", "--user", "alice", "--data-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()
    assert header.split("\t") == ["key_id", "user", "plan", "prefix", "created", "revoked"]
    fields = row.split("\t")
    assert fields[:4] == [key_id(key), "alice", "pro", "tc_live_"]
    assert fields[4].endswith("+00:00") and fields[5] == "no"
    assert key not in out and key[8:] not in out
    assert run("list", "--user", "bob", "--data-dir", str(tmp_path)) == 0
    assert capsys.readouterr().out.count("\n") == 1


def test_cli_keys_revoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """revoke marks the key revoked; again is harmless; unknown ids exit 1."""
    key = create(capsys, tmp_path).strip()
    assert run("revoke", key_id(key), "--data-dir", str(tmp_path)) == 0
    assert capsys.readouterr().out == f"revoked {key_id(key)}\n"
    assert run("revoke", key_id(key), "--data-dir", str(tmp_path)) == 0
    assert "already revoked" in capsys.readouterr().err
    assert run("list", "--data-dir", str(tmp_path)) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("\tyes")
    assert run("revoke", "tc_live_deadbeef", "--data-dir", str(tmp_path)) == 1
    assert "no such key" in capsys.readouterr().err


def test_cli_keys_env_data_dir_and_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TICKCAST_DATA_DIR and TICKCAST_CONFIG set the defaults; config plans are usable."""
    config = tmp_path / "tickcast.toml"
    config.write_text('[plans.team]\ninherits = "pro"\nmax_connections = 50\n')
    monkeypatch.setenv(cli_keys.DATA_DIR_ENV, str(tmp_path / "envdata"))
    monkeypatch.setenv(cli_keys.CONFIG_ENV, str(config))
    assert run("create", "--user", "t", "--plan", "team") == 0
    assert looks_like_key(capsys.readouterr().out.strip())
    assert default_db_path(tmp_path / "envdata").exists()


def test_cli_keys_config_flag_and_bad_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--config adds plans; an unreadable or invalid config exits 2."""
    config = tmp_path / "c.toml"
    config.write_text('[plans.team]\ninherits = "free"\n')
    args = ("--data-dir", str(tmp_path), "--config", str(config))
    assert run("create", "--user", "t", "--plan", "team", *args) == 0
    capsys.readouterr()
    config.write_text("[plans.team]\nmax_connections = 0\n")
    assert run("list", *args) == 2
    assert "max_connections" in capsys.readouterr().err
    missing = ("--data-dir", str(tmp_path), "--config", str(tmp_path / "nope.toml"))
    assert run("list", *missing) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_cli_keys_and_db_upgrade_on_postgresql(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, postgres_url: str
) -> None:
    """--store postgresql://... : db upgrade migrates; keys create/list/revoke use that store."""
    from tickcast.cli import db as cli_db
    from tickcast.storage.migrate import head_revision
    from tickcast.storage.postgres import PostgresStore

    parser = argparse.ArgumentParser(prog="tickcast")
    cli_db.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["db", "upgrade", "--store", postgres_url])
    assert args.func(args) == 0
    assert capsys.readouterr().out == f"{postgres_url} at revision {head_revision()}\n"
    data = tmp_path / "unused"
    key = create(capsys, data, "--store", postgres_url).strip()
    assert run("list", "--store", postgres_url) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{key_id(key)}\talice\tpro\t")
    assert run("revoke", key_id(key), "--store", postgres_url) == 0
    assert not data.exists()

    async def check() -> None:
        async with PostgresStore(
            url=postgres_url, plans=load_plans(), clock=ManualClock()
        ) as store:
            assert [record.revoked for record in await store.list_keys("alice")] == [True]

    asyncio.run(check())


def test_cli_store_from_env_and_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TICKCAST_STORE, then the config's [server] store, choose the store; bad URLs exit 2."""
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\nstore = "sqlite:///{tmp_path / "from-config.db"}"\n')
    assert run("create", "--user", "a", "--plan", "pro", "--config", str(config)) == 0
    assert (tmp_path / "from-config.db").exists()
    monkeypatch.setenv(cli_keys.STORE_ENV, f"sqlite:///{tmp_path / 'from-env.db'}")
    assert run("create", "--user", "a", "--plan", "pro", "--config", str(config)) == 0
    assert (tmp_path / "from-env.db").exists()
    capsys.readouterr()
    assert run("list", "--store", "mysql://u:s3cret@h/d") == 2
    err = capsys.readouterr().err
    assert "'store'" in err and "s3cret" not in err


def test_cli_db_upgrade_on_sqlite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without --store, db upgrade creates/migrates the data dir's SQLite file."""
    from tickcast.cli import db as cli_db
    from tickcast.storage.migrate import head_revision

    parser = argparse.ArgumentParser(prog="tickcast")
    cli_db.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["db", "upgrade", "--data-dir", str(tmp_path / "d")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out == f"SQLite store in {tmp_path / 'd'} at revision {head_revision()}\n"
    assert default_db_path(tmp_path / "d").exists()
