"""PostgreSQL implementation of the :class:`~tickcast.storage.base.Store` (asyncpg).

Same semantics as :class:`~tickcast.storage.sqlite.SqliteStore` (the contract tests in
tests/unit/storage run against both), for several nodes sharing one database. The schema is
managed by alembic (:mod:`tickcast.storage.postgres_schema`) and migrated to the newest revision
when the store first connects. The constructor does no I/O: the first call (or :meth:`open`)
migrates and opens a connection pool.

Every asyncpg or socket error becomes a :class:`~tickcast.errors.StorageError` at one boundary
(:meth:`PostgresStore._errors`); the original is chained for the logs, never put in the message,
and the URL's password appears in no message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from tickcast.auth.keys import (
    DEFAULT_PREFIX,
    check_prefix,
    generate_key,
    hash_key,
    is_test_key,
    key_id,
    keys_equal,
    looks_like_key,
)
from tickcast.auth.metering import Usage
from tickcast.auth.plans import Plan
from tickcast.clock import Clock
from tickcast.errors import ConfigError, StorageError
from tickcast.storage import postgres_schema
from tickcast.storage.base import (
    KeyRecord,
    Principal,
    User,
    check_scopes,
    check_user_name,
    principal_for,
)
from tickcast.storage.urls import redact, store_kind

log = logging.getLogger(__name__)

POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0

_KEY_COLUMNS = "key_id, user_name, prefix, hash, plan, scopes, created_ns, revoked_ns, test"
_USAGE_COLUMNS = "key_id, connections, connection_seconds, messages, bytes, predictions"
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]


class PostgresStore:
    """Users, API keys (hashes only) and usage totals in a PostgreSQL database."""

    def __init__(
        self,
        *,
        url: str,
        plans: Mapping[str, Plan],
        clock: Clock,
        pool_max: int = POOL_MAX,
    ) -> None:
        if store_kind(url) != "postgresql":
            raise ConfigError(f"not a PostgreSQL URL: {redact(url)!r}")
        self._url = url
        self._plans = dict(plans)
        self._clock = clock
        self._pool_max = pool_max
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        self.revision: str | None = None
        """The schema revision after migrating (None until opened)."""

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._url)!r})"

    # -- boundaries ---------------------------------------------------------------------------

    @staticmethod
    @contextmanager
    def _errors(action: str) -> Iterator[None]:
        """The one place driver errors become StorageError."""
        try:
            yield
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"storage failed while {action}") from exc

    async def open(self) -> None:
        """Migrate the schema and open the pool; does nothing if already open."""
        if self._closed:
            raise StorageError("the store is closed")
        if self._pool is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is not None:
                return
            self.revision = await postgres_schema.upgrade(
                self._url, connect_timeout=CONNECT_TIMEOUT
            )
            with self._errors("connecting to the database"):
                pool = await asyncpg.create_pool(
                    self._url,
                    min_size=POOL_MIN,
                    max_size=self._pool_max,
                    timeout=CONNECT_TIMEOUT,
                    command_timeout=COMMAND_TIMEOUT,
                    server_settings={"application_name": "tickcast"},
                )
            if self._closed:  # closed while connecting
                await pool.close()
                raise StorageError("the store is closed")
            self._pool = pool

    @asynccontextmanager
    async def _read(self, action: str) -> AsyncIterator[Connection]:
        await self.open()
        assert self._pool is not None
        with self._errors(action):
            async with self._pool.acquire() as conn:
                yield conn

    @asynccontextmanager
    async def _write(self, action: str) -> AsyncIterator[Connection]:
        """A transaction, rolled back on any exception."""
        async with self._read(action) as conn, conn.transaction():
            yield conn

    # -- helpers --------------------------------------------------------------------------------

    def _check_plan(self, plan: str) -> str:
        if plan not in self._plans:
            raise ConfigError(f"unknown plan {plan!r}; valid plans: {', '.join(self._plans)}")
        return plan

    @staticmethod
    def _user(row: asyncpg.Record) -> User:
        return User(
            name=row["name"],
            plan=row["plan"],
            created_ns=row["created_ns"],
            overrides=json.loads(row["overrides"]),
        )

    @staticmethod
    def _key(row: asyncpg.Record) -> KeyRecord:
        return KeyRecord(
            key_id=row["key_id"],
            user=row["user_name"],
            prefix=row["prefix"],
            hash=row["hash"],
            plan=row["plan"],
            scopes=frozenset(row["scopes"]),
            created_ns=row["created_ns"],
            revoked=row["revoked_ns"] is not None,
            test=row["test"],
        )

    @staticmethod
    async def _select_user(db: Connection, name: str, *, lock: bool = False) -> User | None:
        query = "SELECT * FROM users WHERE name = $1" + (" FOR UPDATE" if lock else "")
        row = await db.fetchrow(query, name)
        return None if row is None else PostgresStore._user(row)

    # -- users ----------------------------------------------------------------------------------

    async def create_user(self, name: str, plan: str) -> User:
        """Create a user; idempotent for the same plan, ConfigError for another plan."""
        check_user_name(name)
        self._check_plan(plan)
        user = User(name=name, plan=plan, created_ns=self._clock.time_ns())
        async with self._write("creating a user") as db:
            inserted = await db.fetchval(
                "INSERT INTO users (name, plan, created_ns) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                name,
                plan,
                user.created_ns,
            )
            if inserted is not None:
                return user
            existing = await self._select_user(db, name)
        assert existing is not None
        if existing.plan != plan:
            raise ConfigError(f"user {name!r} already exists with plan {existing.plan!r}")
        return existing

    async def ensure_user(self, name: str, plan: str) -> User:
        """The existing user (plan unchanged), or a new one with ``plan``."""
        existing = await self.get_user(name)
        if existing is not None:
            return existing
        try:
            return await self.create_user(name, plan)
        except ConfigError:
            # created concurrently by another node with another plan: that user wins
            existing = await self.get_user(name)
            if existing is None:
                raise
            return existing

    async def get_user(self, name: str) -> User | None:
        async with self._read("reading a user") as db:
            return await self._select_user(db, name)

    async def list_users(self) -> list[User]:
        """All users, by name."""
        async with self._read("listing users") as db:
            rows = await db.fetch("SELECT * FROM users ORDER BY name")
        return [self._user(row) for row in rows]

    async def set_user_plan(self, name: str, plan: str) -> User:
        """Change a user's plan; ConfigError for an unknown user or plan."""
        self._check_plan(plan)
        async with self._write("changing a user's plan") as db:
            row = await db.fetchrow(
                "UPDATE users SET plan = $1 WHERE name = $2 RETURNING *", plan, name
            )
        if row is None:
            raise ConfigError(f"unknown user {name!r}")
        return self._user(row)

    async def set_user_overrides(self, name: str, overrides: dict[str, object]) -> User:
        """Replace a user's plan overrides (validated against the plan); ConfigError if bad."""
        async with self._write("changing a user's overrides") as db:
            user = await self._select_user(db, name, lock=True)
            if user is None:
                raise ConfigError(f"unknown user {name!r}")
            plan = self._plans[self._check_plan(user.plan)].with_overrides(**overrides)
            canonical = plan.as_dict()
            stored = {field: canonical[field] for field in overrides}
            await db.execute(
                "UPDATE users SET overrides = $1::jsonb WHERE name = $2",
                json.dumps(stored, sort_keys=True),
                name,
            )
        return User(name=name, plan=user.plan, created_ns=user.created_ns, overrides=stored)

    # -- keys -----------------------------------------------------------------------------------

    async def create_key(
        self,
        *,
        user: str,
        prefix: str = DEFAULT_PREFIX,
        plan: str | None = None,
        scopes: frozenset[str] = frozenset(),
    ) -> tuple[str, KeyRecord]:
        """Make a key for an existing user; returns the plaintext (shown once) and the record."""
        try:
            check_prefix(prefix)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if plan is not None:
            self._check_plan(plan)
        scopes = check_scopes(scopes)
        async with self._write("creating a key") as db:
            if await db.fetchval("SELECT 1 FROM users WHERE name = $1 FOR SHARE", user) is None:
                raise ConfigError(f"unknown user {user!r}")
            while True:
                key = generate_key(prefix)
                record = KeyRecord(
                    key_id=key_id(key),
                    user=user,
                    prefix=prefix,
                    hash=hash_key(key),
                    plan=plan,
                    scopes=scopes,
                    created_ns=self._clock.time_ns(),
                    revoked=False,
                    test=is_test_key(key),
                )
                inserted = await db.fetchval(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) "
                    "ON CONFLICT DO NOTHING RETURNING key_id",
                    record.key_id,
                    record.user,
                    record.prefix,
                    record.hash,
                    record.plan,
                    sorted(record.scopes),
                    record.created_ns,
                    record.test,
                )
                if inserted is not None:
                    return key, record

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid key; None for malformed, unknown or revoked keys."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        async with self._read("authenticating a key") as db:
            row = await db.fetchrow(
                "SELECT k.*, u.plan AS user_plan, u.overrides AS user_overrides "
                "FROM api_keys k JOIN users u ON u.name = k.user_name WHERE k.hash = $1",
                digest,
            )
        if row is None or not keys_equal(row["hash"], digest) or row["revoked_ns"] is not None:
            return None
        return principal_for(self._key(row), row["user_plan"], row["user_overrides"], self._plans)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        async with self._read("reading a key") as db:
            row = await db.fetchrow(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = $1", key_id
            )
        return None if row is None else self._key(row)

    async def list_keys(self, user: str | None = None) -> list[KeyRecord]:
        """Keys (of one user, or all), oldest first."""
        async with self._read("listing keys") as db:
            if user is None:
                rows = await db.fetch(
                    f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_ns, key_id"
                )
            else:
                rows = await db.fetch(
                    f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE user_name = $1 "
                    "ORDER BY created_ns, key_id",
                    user,
                )
        return [self._key(row) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; True if it was active, False if unknown or already revoked."""
        async with self._write("revoking a key") as db:
            revoked = await db.fetchval(
                "UPDATE api_keys SET revoked_ns = $1 WHERE key_id = $2 AND revoked_ns IS NULL "
                "RETURNING key_id",
                self._clock.time_ns(),
                key_id,
            )
        return revoked is not None

    # -- usage ----------------------------------------------------------------------------------

    async def add_usage(self, deltas: dict[str, Usage]) -> None:
        """Add usage deltas (e.g. ``Meter.drain()``) to the per-key totals."""
        if not deltas:
            return
        now = self._clock.time_ns()
        rows = [
            (
                key,
                usage.connections,
                float(usage.connection_seconds),
                usage.messages,
                usage.bytes,
                usage.predictions,
                now,
            )
            for key, usage in sorted(deltas.items())
        ]
        async with self._write("recording usage") as db:
            await db.executemany(
                f"INSERT INTO usage ({_USAGE_COLUMNS}, updated_ns) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (key_id) DO UPDATE SET "
                "connections = usage.connections + excluded.connections, "
                "connection_seconds = usage.connection_seconds + excluded.connection_seconds, "
                "messages = usage.messages + excluded.messages, "
                "bytes = usage.bytes + excluded.bytes, "
                "predictions = usage.predictions + excluded.predictions, "
                "updated_ns = excluded.updated_ns",
                rows,
            )

    async def usage(self, key_id: str | None = None) -> dict[str, Usage]:
        """Usage totals by key id (of one key, or all)."""
        async with self._read("reading usage") as db:
            if key_id is None:
                rows = await db.fetch(f"SELECT {_USAGE_COLUMNS} FROM usage ORDER BY key_id")
            else:
                rows = await db.fetch(
                    f"SELECT {_USAGE_COLUMNS} FROM usage WHERE key_id = $1", key_id
                )
        return {
            row["key_id"]: Usage(
                connections=row["connections"],
                connection_seconds=row["connection_seconds"],
                messages=row["messages"],
                bytes=row["bytes"],
                predictions=row["predictions"],
            )
            for row in rows
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the pool; later calls raise StorageError. Closing twice is harmless."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            with self._errors("closing the database"):
                await asyncio.wait_for(pool.close(), timeout=COMMAND_TIMEOUT)

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
