"""SQLite implementation of the :class:`~tickcast.storage.base.Store` (stdlib ``sqlite3``).

One connection in WAL mode with ``check_same_thread=False`` and a busy timeout, so the server and
the ``tickcast keys`` CLI can share the file. Every call is a quick indexed statement on a small
local database, so the async methods run it directly on the event loop instead of paying for a
thread hop. Writes use ``BEGIN IMMEDIATE`` transactions. The schema is versioned with
``PRAGMA user_version`` and migrated forward on open.

Every ``sqlite3.Error`` becomes a :class:`~tickcast.errors.StorageError` at one boundary
(:meth:`SqliteStore._errors`); the original is chained for the logs, never put in the message.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

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
from tickcast.storage.base import (
    KeyRecord,
    Principal,
    User,
    check_scopes,
    check_user_name,
    principal_for,
)

log = logging.getLogger(__name__)

DB_FILENAME = "tickcast.sqlite3"

SCHEMA_VERSION = 1

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            plan TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            overrides TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            user TEXT NOT NULL REFERENCES users(name),
            prefix TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            plan TEXT,
            scopes TEXT NOT NULL DEFAULT '',
            created_ns INTEGER NOT NULL,
            revoked_ns INTEGER,
            test INTEGER NOT NULL
        )""",
        "CREATE INDEX api_keys_user ON api_keys(user)",
        """CREATE TABLE usage (
            key_id TEXT PRIMARY KEY,
            connections INTEGER NOT NULL DEFAULT 0,
            connection_seconds REAL NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            predictions INTEGER NOT NULL DEFAULT 0,
            updated_ns INTEGER NOT NULL
        )""",
    ),
)
"""Statements taking the schema from version ``i`` to ``i + 1``."""

_KEY_COLUMNS = "key_id, user, prefix, hash, plan, scopes, created_ns, revoked_ns, test"
_USAGE_COLUMNS = "key_id, connections, connection_seconds, messages, bytes, predictions"


def default_db_path(data_dir: Path) -> Path:
    """The database file inside a data directory."""
    return Path(data_dir) / DB_FILENAME


class SqliteStore:
    """Users, API keys (hashes only) and usage totals in one SQLite file."""

    def __init__(self, *, path: str | Path, plans: Mapping[str, Plan], clock: Clock) -> None:
        self._path = str(path)
        self._plans = dict(plans)
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        with self._errors("opening the database"):
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA busy_timeout=5000")
                self._db = db
                self._migrate()
            except BaseException:
                self._db = None
                db.close()
                raise

    # -- boundaries ---------------------------------------------------------------------------

    @staticmethod
    @contextmanager
    def _errors(action: str) -> Iterator[None]:
        """The one place sqlite errors become StorageError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(f"storage failed while {action}") from exc

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError("the store is closed")
        return self._db

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._errors(action):
            yield self._conn()

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, rolled back on any exception."""
        with self._errors(action):
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write("migrating the schema") as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"database schema version {version} is newer than this tickcast "
                    f"({SCHEMA_VERSION})"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- helpers --------------------------------------------------------------------------------

    def _check_plan(self, plan: str) -> str:
        if plan not in self._plans:
            raise ConfigError(f"unknown plan {plan!r}; valid plans: {', '.join(self._plans)}")
        return plan

    @staticmethod
    def _user(row: sqlite3.Row) -> User:
        return User(
            name=row["name"],
            plan=row["plan"],
            created_ns=row["created_ns"],
            overrides=json.loads(row["overrides"]),
        )

    @staticmethod
    def _key(row: sqlite3.Row) -> KeyRecord:
        return KeyRecord(
            key_id=row["key_id"],
            user=row["user"],
            prefix=row["prefix"],
            hash=row["hash"],
            plan=row["plan"],
            scopes=frozenset(row["scopes"].split()),
            created_ns=row["created_ns"],
            revoked=row["revoked_ns"] is not None,
            test=bool(row["test"]),
        )

    @staticmethod
    def _select_user(db: sqlite3.Connection, name: str) -> User | None:
        row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else SqliteStore._user(row)

    # -- users ----------------------------------------------------------------------------------

    async def create_user(self, name: str, plan: str) -> User:
        """Create a user; idempotent for the same plan, ConfigError for another plan."""
        check_user_name(name)
        self._check_plan(plan)
        with self._write("creating a user") as db:
            existing = self._select_user(db, name)
            if existing is not None:
                if existing.plan != plan:
                    raise ConfigError(f"user {name!r} already exists with plan {existing.plan!r}")
                return existing
            user = User(name=name, plan=plan, created_ns=self._clock.time_ns())
            db.execute(
                "INSERT INTO users (name, plan, created_ns) VALUES (?, ?, ?)",
                (name, plan, user.created_ns),
            )
            return user

    async def ensure_user(self, name: str, plan: str) -> User:
        """The existing user (plan unchanged), or a new one with ``plan``."""
        existing = await self.get_user(name)
        if existing is not None:
            return existing
        return await self.create_user(name, plan)

    async def get_user(self, name: str) -> User | None:
        with self._read("reading a user") as db:
            return self._select_user(db, name)

    async def list_users(self) -> list[User]:
        """All users, by name."""
        with self._read("listing users") as db:
            return [self._user(row) for row in db.execute("SELECT * FROM users ORDER BY name")]

    async def set_user_plan(self, name: str, plan: str) -> User:
        """Change a user's plan; ConfigError for an unknown user or plan."""
        self._check_plan(plan)
        with self._write("changing a user's plan") as db:
            if db.execute("UPDATE users SET plan = ? WHERE name = ?", (plan, name)).rowcount == 0:
                raise ConfigError(f"unknown user {name!r}")
            user = self._select_user(db, name)
        assert user is not None
        return user

    async def set_user_overrides(self, name: str, overrides: dict[str, object]) -> User:
        """Replace a user's plan overrides (validated against the plan); ConfigError if bad."""
        with self._write("changing a user's overrides") as db:
            user = self._select_user(db, name)
            if user is None:
                raise ConfigError(f"unknown user {name!r}")
            plan = self._plans[self._check_plan(user.plan)].with_overrides(**overrides)
            canonical = plan.as_dict()
            stored = {field: canonical[field] for field in overrides}
            db.execute(
                "UPDATE users SET overrides = ? WHERE name = ?",
                (json.dumps(stored, sort_keys=True), name),
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
        with self._write("creating a key") as db:
            if self._select_user(db, user) is None:
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
                taken = db.execute(
                    "SELECT 1 FROM api_keys WHERE key_id = ?", (record.key_id,)
                ).fetchone()
                if taken is None:
                    break
            db.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    record.key_id,
                    record.user,
                    record.prefix,
                    record.hash,
                    record.plan,
                    " ".join(sorted(record.scopes)),
                    record.created_ns,
                    int(record.test),
                ),
            )
        return key, record

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid key; None for malformed, unknown or revoked keys."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        with self._read("authenticating a key") as db:
            row = db.execute(
                "SELECT k.*, u.plan AS user_plan, u.overrides AS user_overrides "
                "FROM api_keys k JOIN users u ON u.name = k.user WHERE k.hash = ?",
                (digest,),
            ).fetchone()
        if row is None or not keys_equal(row["hash"], digest) or row["revoked_ns"] is not None:
            return None
        return principal_for(self._key(row), row["user_plan"], row["user_overrides"], self._plans)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        with self._read("reading a key") as db:
            row = db.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return None if row is None else self._key(row)

    async def list_keys(self, user: str | None = None) -> list[KeyRecord]:
        """Keys (of one user, or all), oldest first."""
        query = f"SELECT {_KEY_COLUMNS} FROM api_keys"
        params: tuple[str, ...] = ()
        if user is not None:
            query += " WHERE user = ?"
            params = (user,)
        with self._read("listing keys") as db:
            rows = db.execute(query + " ORDER BY created_ns, key_id", params).fetchall()
        return [self._key(row) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; True if it was active, False if unknown or already revoked."""
        with self._write("revoking a key") as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_ns = ? WHERE key_id = ? AND revoked_ns IS NULL",
                (self._clock.time_ns(), key_id),
            )
            return cursor.rowcount > 0

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
                usage.connection_seconds,
                usage.messages,
                usage.bytes,
                usage.predictions,
                now,
            )
            for key, usage in deltas.items()
        ]
        with self._write("recording usage") as db:
            db.executemany(
                f"INSERT INTO usage ({_USAGE_COLUMNS}, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key_id) DO UPDATE SET "
                "connections = connections + excluded.connections, "
                "connection_seconds = connection_seconds + excluded.connection_seconds, "
                "messages = messages + excluded.messages, "
                "bytes = bytes + excluded.bytes, "
                "predictions = predictions + excluded.predictions, "
                "updated_ns = excluded.updated_ns",
                rows,
            )

    async def usage(self, key_id: str | None = None) -> dict[str, Usage]:
        """Usage totals by key id (of one key, or all)."""
        query = f"SELECT {_USAGE_COLUMNS} FROM usage"
        params: tuple[str, ...] = ()
        if key_id is not None:
            query += " WHERE key_id = ?"
            params = (key_id,)
        with self._read("reading usage") as db:
            rows = db.execute(query + " ORDER BY key_id", params).fetchall()
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
        """Close the connection (checkpointing the WAL); later calls raise StorageError."""
        db, self._db = self._db, None
        if db is not None:
            with self._errors("closing the database"):
                db.close()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
