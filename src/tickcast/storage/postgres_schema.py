"""The PostgreSQL schema: alembic migrations packaged in ``tickcast/storage/migrations``.

:func:`upgrade` brings a database to the newest revision inside one transaction holding an
advisory lock, so several nodes starting at once migrate it exactly once. A database at a
revision this tickcast does not know (written by a newer one) is refused with StorageError.
SQLAlchemy (asyncpg dialect) is used only here, because alembic runs on it; asyncpg itself opens
the connection from the store's URL.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tickcast.errors import StorageError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x7469636B63617374
"""The advisory lock id held while migrating ("tickcast" in ASCII)."""
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def alembic_config() -> Config:
    """An alembic configuration pointing at the packaged migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this tickcast knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _engine(url: str, connect_timeout: float) -> AsyncEngine:
    """An engine whose one connection asyncpg opens from ``url`` itself, so that the URL means
    exactly what it means to the store's pool (SQLAlchemy never parses it)."""

    async def connect() -> asyncpg.Connection[asyncpg.Record]:
        return await asyncpg.connect(url, timeout=connect_timeout)

    return create_async_engine("postgresql+asyncpg://", async_creator=connect, poolclass=NullPool)


def _upgrade(connection: Connection) -> str:
    config = alembic_config()
    with connection.begin():
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        script = ScriptDirectory.from_config(config)
        if current is not None:
            try:
                known = script.get_revision(current) is not None
            except CommandError:
                known = False
            if not known:
                raise StorageError(
                    f"database schema revision {current!r} is newer than this tickcast "
                    f"({script.get_current_head()!r})"
                )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        revision = MigrationContext.configure(connection).get_current_revision()
    return str(revision)


async def upgrade(url: str, *, connect_timeout: float = 10.0) -> str:
    """Migrate the database of ``url`` to the newest revision; returns that revision."""
    engine = _engine(url, connect_timeout)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_upgrade)
    except (SQLAlchemyError, CommandError, *_DRIVER_ERRORS) as exc:
        raise StorageError("storage failed while migrating the schema") from exc
    finally:
        await engine.dispose()


async def current_revision(url: str, *, connect_timeout: float = 10.0) -> str | None:
    """The database's revision, or None if it was never migrated."""
    engine = _engine(url, connect_timeout)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    except (SQLAlchemyError, *_DRIVER_ERRORS) as exc:
        raise StorageError("storage failed while reading the schema revision") from exc
    finally:
        await engine.dispose()
