"""``tickcast db upgrade``: migrate the store's schema to this tickcast's newest version.

The server and ``tickcast keys`` migrate on their own when they open the store; this command
lets an operator do it explicitly (e.g. before rolling out new nodes). The store is chosen as for
``tickcast keys``: ``--store``, ``$TICKCAST_STORE``, the config file's ``[server] store``, else
SQLite in the data directory. Exit codes: 0 migrated (or already current), 1 storage error
(unreachable server, schema newer than this tickcast), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tickcast.cli.keys import config_of, data_dir_of, open_store, plans_from, store_of
from tickcast.errors import ConfigError, StorageError
from tickcast.storage.factory import open_and_migrate
from tickcast.storage.urls import redact


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``db`` command and its ``upgrade`` subcommand."""
    db = subparsers.add_parser(
        "db", help="manage the store's schema", description="Manage the store's schema."
    )
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser(
        "upgrade",
        help="migrate the store to the newest schema",
        description="Migrate the store (SQLite or PostgreSQL) to the newest schema and print it.",
    )
    upgrade.add_argument(
        "--store",
        default=None,
        help="store URL, e.g. postgresql://USER:PASSWORD@HOST:PORT/DB "
        "(default $TICKCAST_STORE, else [server] store of the config file, else SQLite)",
    )
    upgrade.add_argument("--data-dir", default=None, help="data directory of the SQLite store")
    upgrade.add_argument("--config", default=None, help="TOML configuration file")
    upgrade.set_defaults(func=upgrade_command)


def upgrade_command(args: argparse.Namespace) -> int:
    """``db upgrade``: print ``<store> at <version>`` on stdout."""
    try:
        config = config_of(args)
        plans = plans_from(config)
        url = store_of(args, config)
    except ConfigError as exc:
        print(f"tickcast db: {exc.message}", file=sys.stderr)
        return 2

    async def main() -> str:
        store = open_store(data_dir_of(args), plans, url)
        try:
            return await open_and_migrate(store)
        finally:
            await store.close()

    try:
        version = asyncio.run(main())
    except ConfigError as exc:
        print(f"tickcast db: {exc.message}", file=sys.stderr)
        return 2
    except StorageError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        print(f"tickcast db: {exc.message}{cause}", file=sys.stderr)
        return 1
    where = redact(url) if url else f"SQLite store in {data_dir_of(args)}"
    print(f"{where} at {version}")
    return 0
