"""Alembic environment of the SQL store (SQLite and PostgreSQL).

tickcast runs the migrations itself (``tickcast.storage.migrate``), handing this script an open
SQLAlchemy connection, already inside the migration's transaction, in
``config.attributes["connection"]``. Without one (an operator running ``alembic`` by hand with
``sqlalchemy.url`` set), it opens its own engine: ``sqlite:///PATH`` or
``postgresql+asyncpg://...``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    url = str(context.config.get_main_option("sqlalchemy.url"))
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif url.startswith("sqlite"):
        with create_engine(url).connect() as own:
            _run(own)
    else:
        asyncio.run(_run_with_own_engine(url))


main()
