"""Alembic environment of the PostgreSQL store.

tickcast runs the migrations itself (``tickcast.storage.postgres_schema.upgrade``), handing this
script an open SQLAlchemy connection in ``config.attributes["connection"]``. Without one (an
operator running ``alembic`` by hand with ``sqlalchemy.url`` set), it opens its own asyncpg
engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
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
    if context.is_offline_mode():
        context.configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_with_own_engine(str(context.config.get_main_option("sqlalchemy.url"))))


main()
