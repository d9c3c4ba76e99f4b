"""PostgresStore only: alembic migrations, refusal of newer schemas, errors and concurrency.

The behaviour every store shares is in test_store_contract.py; these run on the session's real
PostgreSQL server (tests/postgres_server.py).
"""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from tickcast.auth.plans import Plan
from tickcast.clock import ManualClock
from tickcast.errors import StorageError
from tickcast.storage.migrate import head_revision
from tickcast.storage.postgres import PostgresStore, current_revision


def store_of(url: str, plans: dict[str, Plan]) -> PostgresStore:
    return PostgresStore(url=url, plans=plans, clock=ManualClock())


async def query(url: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


async def test_postgres_migrates_a_new_database_on_first_use(
    postgres_url: str, plans: dict[str, Plan]
) -> None:
    """Nothing happens before the first call; then the schema is at alembic's head."""
    assert await current_revision(postgres_url) is None
    store = store_of(postgres_url, plans)
    assert store.revision is None and await current_revision(postgres_url) is None
    assert await store.list_users() == []
    assert store.revision == head_revision() == await current_revision(postgres_url)
    tables = {
        row["tablename"]
        for row in await query(
            postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    }
    assert tables == {"alembic_version", "users", "api_keys", "usage"}
    await store.close()


async def test_postgres_concurrent_starts_migrate_once(
    postgres_url: str, plans: dict[str, Plan]
) -> None:
    """Several nodes opening a new database at once all succeed (advisory lock)."""
    stores = [store_of(postgres_url, plans) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    assert {store.revision for store in stores} == {head_revision()}
    users = await asyncio.gather(
        *(
            s.ensure_user("alice", p)
            for s, p in zip(stores, ("pro", "free", "pro", "free"), strict=True)
        )
    )
    assert len({(user.name, user.plan) for user in users}) == 1
    await asyncio.gather(*(store.close() for store in stores))


async def test_postgres_refuses_newer_schema(postgres_url: str, plans: dict[str, Plan]) -> None:
    """A database migrated by a newer tickcast is a StorageError, not silently used."""
    await store_of(postgres_url, plans).open()
    await query(postgres_url, "UPDATE alembic_version SET version_num = 'f00dcafe'")
    store = store_of(postgres_url, plans)
    with pytest.raises(StorageError, match="newer"):
        await store.list_users()
    await store.close()


async def test_postgres_unreachable_is_a_storage_error_without_password(
    plans: dict[str, Plan],
) -> None:
    """No server at the address: StorageError with the cause chained and no password shown."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = store_of(f"postgresql://tc:s3cret@127.0.0.1:{port}/tc", plans)
    assert "s3cret" not in repr(store)
    with pytest.raises(StorageError) as info:
        await store.list_users()
    assert info.value.__cause__ is not None and "s3cret" not in info.value.message
    await store.close()


async def test_postgres_closed_before_open(postgres_url: str, plans: dict[str, Plan]) -> None:
    """A store closed before its first call never connects and raises StorageError."""
    store = store_of(postgres_url, plans)
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.open()
    assert await current_revision(postgres_url) is None


async def test_postgres_two_nodes_share_keys_and_usage(
    postgres_url: str, plans: dict[str, Plan]
) -> None:
    """A key made on one node authenticates on another; revocation and usage are shared."""
    from tickcast.auth.metering import Usage

    async with store_of(postgres_url, plans) as a, store_of(postgres_url, plans) as b:
        await a.create_user("alice", "pro")
        key, record = await a.create_key(user="alice")
        principal = await b.authenticate(key)
        assert principal is not None and principal.user == "alice"
        await a.add_usage({record.key_id: Usage(messages=2)})
        await b.add_usage({record.key_id: Usage(messages=3, connection_seconds=1.5)})
        assert await a.usage(record.key_id) == {
            record.key_id: Usage(messages=5, connection_seconds=1.5)
        }
        assert await b.revoke_key(record.key_id)
        assert await a.authenticate(key) is None
