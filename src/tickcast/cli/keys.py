"""``tickcast keys``: create, list and revoke API keys in the local store.

The database is ``<data-dir>/tickcast.sqlite3``; the data dir defaults to ``$TICKCAST_DATA_DIR``
or ``./data``. ``--store URL`` (default ``$TICKCAST_STORE``, else the config file's
``[server] store``) names another store, e.g. ``postgresql://...`` (docs/storage.md).
``--config`` (default ``$TICKCAST_CONFIG``) is a TOML file whose ``[plans.*]`` tables extend the
built-in plans. Exit codes: 0 ok, 1 failure (unknown key, storage error),
2 bad input (unknown plan, bad prefix, bad config).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from tickcast.auth.keys import DEFAULT_PREFIX, key_id, looks_like_key
from tickcast.auth.plans import Plan, load_plans
from tickcast.clock import SystemClock
from tickcast.errors import ConfigError, StorageError
from tickcast.storage.base import SCOPES, Store
from tickcast.storage.factory import open_store as open_store_url

DATA_DIR_ENV = "TICKCAST_DATA_DIR"
STORE_ENV = "TICKCAST_STORE"
CONFIG_ENV = "TICKCAST_CONFIG"
DEFAULT_DATA_DIR = "./data"

_T = TypeVar("_T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` command and its ``create``, ``list`` and ``revoke`` subcommands."""
    keys = subparsers.add_parser(
        "keys", help="manage API keys", description="Create, list and revoke API keys."
    )
    commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)

    create = commands.add_parser(
        "create",
        help="create a key and print it (only once)",
        description=(
            "Create a key and print it alone on stdout; it cannot be shown again. The user is "
            "created with PLAN if missing. A key whose PLAN equals the user's plan follows the "
            "user's plan; otherwise the key keeps PLAN."
        ),
    )
    create.add_argument("--user", required=True, help="user name")
    create.add_argument("--plan", required=True, help="plan name (built-in or from --config)")
    create.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"key prefix (default {DEFAULT_PREFIX})"
    )
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        default=[],
        choices=sorted(SCOPES),
        help="extra scope (repeatable)",
    )
    _store_options(create)
    create.set_defaults(func=create_command)

    listing = commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--user", help="only this user's keys")
    _store_options(listing)
    listing.set_defaults(func=list_command)

    revoke = commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key id shown by 'keys list'")
    _store_options(revoke)
    revoke.set_defaults(func=revoke_command)


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data directory (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--store",
        default=None,
        help=f"store URL, e.g. postgresql://USER:PASSWORD@HOST:PORT/DB (default ${STORE_ENV}, "
        "else [server] store of the config file, else SQLite in the data directory)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML file with extra [plans.*] tables (default ${CONFIG_ENV})",
    )


def data_dir_of(args: argparse.Namespace) -> Path:
    """``--data-dir``, else ``$TICKCAST_DATA_DIR``, else ``./data``."""
    if args.data_dir is not None:
        return Path(args.data_dir)
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def config_of(args: argparse.Namespace) -> Path | None:
    """``--config``, else ``$TICKCAST_CONFIG``, else None."""
    if getattr(args, "config", None) is not None:
        return Path(args.config)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def store_of(args: argparse.Namespace, config: Path | None) -> str | None:
    """``--store``, else ``$TICKCAST_STORE``, else the config file's ``[server] store``."""
    if getattr(args, "store", None):
        return str(args.store)
    env = os.environ.get(STORE_ENV)
    if env:
        return env
    if config is None:
        return None
    try:
        document = tomllib.loads(config.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(config)!r}: {exc}") from None
    store = document.get("server", {}).get("store")
    return str(store) if store else None


def plans_from(config: Path | None) -> dict[str, Plan]:
    """Built-in plans extended by the config file's ``[plans.*]`` tables."""
    if config is None:
        return load_plans()
    try:
        text = config.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(config)!r}: {exc}") from None
    return load_plans(text)


def open_store(data_dir: Path, plans: dict[str, Plan], store: str | None = None) -> Store:
    """Open the store ``store`` names, or (creating it if needed) the data dir's SQLite file."""
    return open_store_url(store, data_dir=data_dir, plans=plans, clock=SystemClock())


def _fail(message: str, code: int) -> int:
    print(f"tickcast keys: {message}", file=sys.stderr)
    return code


def _run(
    args: argparse.Namespace,
    action: Callable[[Store, dict[str, Plan]], Awaitable[_T]],
    *,
    check: Callable[[dict[str, Plan]], None] | None = None,
) -> tuple[int, _T | None]:
    """Load plans, ``check`` them, open the store, run ``action``; map errors to exit codes."""
    try:
        config = config_of(args)
        plans = plans_from(config)
        store_url = store_of(args, config)
        if check is not None:
            check(plans)
    except ConfigError as exc:
        return _fail(exc.message, 2), None

    async def main() -> _T:
        store = open_store(data_dir_of(args), plans, store_url)
        try:
            return await action(store, plans)
        finally:
            await store.close()

    try:
        return 0, asyncio.run(main())
    except ConfigError as exc:
        return _fail(exc.message, 2), None
    except StorageError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        return _fail(exc.message + cause, 1), None


def create_command(args: argparse.Namespace) -> int:
    """``keys create``: print the new key alone on stdout."""
    scopes = frozenset(args.scopes or ())

    def check(plans: dict[str, Plan]) -> None:
        if args.plan not in plans:
            raise ConfigError(f"unknown plan {args.plan!r}; valid plans: {', '.join(plans)}")

    async def create(store: Store, plans: dict[str, Plan]) -> tuple[str, str]:
        user = await store.ensure_user(args.user, args.plan)
        key_plan = None if user.plan == args.plan else args.plan
        key, record = await store.create_key(
            user=user.name, prefix=args.prefix, plan=key_plan, scopes=scopes
        )
        return key, record.key_id

    code, result = _run(args, create, check=check)
    if result is not None:
        key, new_id = result
        print(key)
        print(f"created key {new_id} for user {args.user} (plan {args.plan})", file=sys.stderr)
    return code


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).isoformat(timespec="seconds")


def list_command(args: argparse.Namespace) -> int:
    """``keys list``: one tab-separated line per key: id, user, plan, prefix, created, revoked."""

    async def rows(store: Store, plans: dict[str, Plan]) -> list[tuple[str, ...]]:
        users = {user.name: user.plan for user in await store.list_users()}
        return [
            (
                record.key_id,
                record.user,
                record.plan or users.get(record.user, "?"),
                record.prefix,
                _iso(record.created_ns),
                "yes" if record.revoked else "no",
            )
            for record in await store.list_keys(args.user)
        ]

    code, result = _run(args, rows)
    if result is not None:
        print("\t".join(("key_id", "user", "plan", "prefix", "created", "revoked")))
        for row in result:
            print("\t".join(row))
    return code


def revoke_command(args: argparse.Namespace) -> int:
    """``keys revoke KEY_ID``: 0 if revoked (or already was), 1 if no such key."""
    target = key_id(args.key_id) if looks_like_key(args.key_id) else args.key_id

    async def revoke(store: Store, plans: dict[str, Plan]) -> str:
        record = await store.get_key(target)
        if record is None:
            return "missing"
        if record.revoked:
            return "already"
        return "revoked" if await store.revoke_key(target) else "already"

    code, outcome = _run(args, revoke)
    if outcome == "missing":
        return _fail(f"no such key {target!r}", 1)
    if outcome == "already":
        print(f"key {target} was already revoked", file=sys.stderr)
    elif outcome == "revoked":
        print(f"revoked {target}")
    return code
