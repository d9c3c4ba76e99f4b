"""The store's schema on both databases: alembic revisions in ``tickcast/storage/migrations``.

One revision tree for SQLite and PostgreSQL. A database is brought to the newest revision inside
one transaction that no other tickcast can enter at the same time, so nodes (or a node and the
CLI) starting together migrate it exactly once:

* PostgreSQL: a transaction-scoped advisory lock (DDL is transactional there);
* SQLite: a ``BEGIN IMMEDIATE`` transaction (the file's write lock).

A database at a revision this tickcast does not know (migrated by a newer one) is refused with
StorageError.

SQLite files written before alembic (every release up to the merge of the SQL stores) carry
``PRAGMA user_version = 1`` and no ``alembic_version`` table: their schema is exactly revision
``0001`` on SQLite, so they are stamped ``0001`` and upgraded from there. After migrating, the
file's ``user_version`` is set to :data:`SQLITE_FENCE`, which those releases refuse as newer
instead of misreading the new schema.

alembic is imported only when a database is not at :data:`HEAD` (a quick read of
``alembic_version`` comes first), so opening a current database costs one query, not alembic's
import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tickcast.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HEAD = "0002"
"""The newest revision in ``migrations/versions`` (a test checks it against alembic's head)."""
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 0x7469636B63617374
"""The PostgreSQL advisory lock id held while migrating ("tickcast" in ASCII)."""
LEGACY_SQLITE_VERSION = 1
"""``PRAGMA user_version`` of SQLite files written before alembic; revision ``0001``."""
LEGACY_SQLITE_REVISION = "0001"
SQLITE_FENCE = 2
"""``PRAGMA user_version`` of a migrated SQLite file: newer than any pre-alembic release knows."""


def alembic_config() -> Config:
    """An alembic configuration pointing at the packaged migrations (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this tickcast knows, as alembic computes it from the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's revision, or None if it was never migrated with alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def _refuse_unknown(connection: Connection, script: ScriptDirectory) -> None:
    from alembic.util import CommandError

    current = current_revision(connection)
    if current is None:
        return
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise StorageError(
            f"database schema revision {current!r} is newer than this tickcast "
            f"({script.get_current_head()!r})"
        )


def _upgrade_in_transaction(connection: Connection) -> str:
    """Upgrade to head on a connection already inside the migration's transaction."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config()
    _refuse_unknown(connection, ScriptDirectory.from_config(config))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return str(current_revision(connection))


def upgrade_postgresql(connection: Connection) -> str:
    """Migrate a PostgreSQL database to head under the advisory lock; returns the revision."""
    with connection.begin():
        if current_revision(connection) == HEAD:
            return HEAD
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        return _upgrade_in_transaction(connection)


def _adopt_legacy_sqlite(connection: Connection) -> None:
    """Stamp a pre-alembic SQLite file at the revision its schema is; refuse unknown versions."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if inspect(connection).has_table(VERSION_TABLE):
        return
    version = int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())
    if version == 0:
        return  # a new file
    if version != LEGACY_SQLITE_VERSION:
        raise StorageError(
            f"database schema version {version} is newer than this tickcast ({head_revision()!r})"
        )
    MigrationContext.configure(connection).stamp(
        ScriptDirectory.from_config(alembic_config()), LEGACY_SQLITE_REVISION
    )


def upgrade_sqlite(connection: Connection) -> str:
    """Migrate a SQLite file to head in one ``BEGIN IMMEDIATE`` transaction; returns the revision.

    ``connection`` must be in autocommit mode (the transaction is the one begun here).
    """
    fenced = connection.exec_driver_sql("PRAGMA user_version").scalar_one() == SQLITE_FENCE
    if fenced and current_revision(connection) == HEAD:
        return HEAD  # a snapshot read: a file at head never goes back
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        _adopt_legacy_sqlite(connection)
        revision = _upgrade_in_transaction(connection)
        if connection.exec_driver_sql("PRAGMA user_version").scalar_one() != SQLITE_FENCE:
            connection.exec_driver_sql(f"PRAGMA user_version = {SQLITE_FENCE}")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")
    return revision
