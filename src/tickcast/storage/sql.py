"""The SQL implementation of the :class:`~tickcast.storage.base.Store`, on SQLAlchemy Core.

Every method is written once here; a backend (:class:`~tickcast.storage.sqlite.SqliteStore`,
:class:`~tickcast.storage.postgres.PostgresStore`) only says how to get a :class:`Session` for a
read or for a write transaction, and which driver errors it raises. The statements are built once
per dialect (:mod:`tickcast.storage.statements`) on the tables of :mod:`tickcast.storage.schema`.

Every driver or SQLAlchemy error becomes a :class:`~tickcast.errors.StorageError` at one boundary
(:meth:`SqlStore._errors`); the driver's own error is chained for the logs (not SQLAlchemy's,
whose text carries the statement), never put in the message.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias

from sqlalchemy import CursorResult, RowMapping
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql import Executable

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
from tickcast.storage.schema import USAGE_COUNTERS
from tickcast.storage.statements import statements_for

log = logging.getLogger(__name__)

Params: TypeAlias = Mapping[str, Any] | Sequence[Mapping[str, Any]]


class Session(Protocol):
    """One connection (inside a transaction for writes), as the store's methods use it."""

    async def execute(
        self, statement: Executable, params: Params | None = None
    ) -> CursorResult[Any]: ...


class SqlStore(ABC):
    """Users, API keys (hashes only) and usage totals in a SQL database."""

    driver_errors: tuple[type[BaseException], ...] = (SQLAlchemyError,)
    """The exceptions that mean the database failed (become StorageError)."""

    def __init__(self, *, dialect: str, plans: Mapping[str, Plan], clock: Clock) -> None:
        self._plans = dict(plans)
        self._clock = clock
        self._sql = statements_for(dialect)
        self.revision: str | None = None
        """The schema revision after migrating (None until the store is open)."""

    # -- boundaries ---------------------------------------------------------------------------

    @abstractmethod
    def _session(self, action: str, *, write: bool) -> AbstractAsyncContextManager[Session]:
        """A session for ``action`` (a transaction if ``write``), errors mapped by _errors."""

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """The one place database errors become StorageError."""
        try:
            yield
        except self.driver_errors as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            raise StorageError(f"storage failed while {action}") from cause

    def _read(self, action: str) -> AbstractAsyncContextManager[Session]:
        return self._session(action, write=False)

    def _write(self, action: str) -> AbstractAsyncContextManager[Session]:
        return self._session(action, write=True)

    # -- helpers --------------------------------------------------------------------------------

    def _check_plan(self, plan: str) -> str:
        if plan not in self._plans:
            raise ConfigError(f"unknown plan {plan!r}; valid plans: {', '.join(self._plans)}")
        return plan

    @staticmethod
    def _user(row: RowMapping) -> User:
        return User(
            name=row["name"],
            plan=row["plan"],
            created_ns=row["created_ns"],
            overrides=dict(row["overrides"]),
        )

    @staticmethod
    def _key(row: RowMapping) -> KeyRecord:
        return KeyRecord(
            key_id=row["key_id"],
            user=row["user_name"],
            prefix=row["prefix"],
            hash=row["hash"],
            plan=row["plan"],
            scopes=row["scopes"],
            created_ns=row["created_ns"],
            revoked=row["revoked_ns"] is not None,
            test=bool(row["test"]),
        )

    async def _select_user(self, db: Session, name: str, *, lock: bool = False) -> User | None:
        statement = self._sql.lock_user if lock else self._sql.select_user
        row = (await db.execute(statement, {"name": name})).mappings().first()
        return None if row is None else self._user(row)

    # -- users ----------------------------------------------------------------------------------

    async def create_user(self, name: str, plan: str) -> User:
        """Create a user; idempotent for the same plan, ConfigError for another plan."""
        check_user_name(name)
        self._check_plan(plan)
        user = User(name=name, plan=plan, created_ns=self._clock.time_ns())
        async with self._write("creating a user") as db:
            params = {"name": name, "plan": plan, "created_ns": user.created_ns}
            if (await db.execute(self._sql.insert_user, params)).rowcount:
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
            rows = (await db.execute(self._sql.list_users)).mappings().all()
        return [self._user(row) for row in rows]

    async def set_user_plan(self, name: str, plan: str) -> User:
        """Change a user's plan; ConfigError for an unknown user or plan."""
        self._check_plan(plan)
        async with self._write("changing a user's plan") as db:
            changed = await db.execute(self._sql.update_plan, {"b_name": name, "new_plan": plan})
            user = await self._select_user(db, name) if changed.rowcount else None
        if user is None:
            raise ConfigError(f"unknown user {name!r}")
        return user

    async def set_user_overrides(self, name: str, overrides: dict[str, object]) -> User:
        """Replace a user's plan overrides (validated against the plan); ConfigError if bad."""
        async with self._write("changing a user's overrides") as db:
            user = await self._select_user(db, name, lock=True)
            if user is None:
                raise ConfigError(f"unknown user {name!r}")
            plan = self._plans[self._check_plan(user.plan)].with_overrides(**overrides)
            canonical = plan.as_dict()
            stored = {field: canonical[field] for field in overrides}
            await db.execute(self._sql.update_overrides, {"b_name": name, "new_overrides": stored})
        return User(name=name, plan=user.plan, created_ns=user.created_ns, overrides=stored)

    # -- keys -----------------------------------------------------------------------------------

    def _new_key(
        self, user: str, prefix: str, plan: str | None, scopes: frozenset[str]
    ) -> tuple[str, KeyRecord]:
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
        return key, record

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
            if (await db.execute(self._sql.share_user, {"name": user})).first() is None:
                raise ConfigError(f"unknown user {user!r}")
            while True:  # until the random key id is free
                key, record = self._new_key(user, prefix, plan, scopes)
                row = {
                    "key_id": record.key_id,
                    "user_name": record.user,
                    "prefix": record.prefix,
                    "hash": record.hash,
                    "plan": record.plan,
                    "scopes": record.scopes,
                    "created_ns": record.created_ns,
                    "revoked_ns": None,
                    "test": record.test,
                }
                if (await db.execute(self._sql.insert_key, row)).rowcount:
                    return key, record

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid key; None for malformed, unknown or revoked keys."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        async with self._read("authenticating a key") as db:
            result = await db.execute(self._sql.authenticate, {"digest": digest})
            row = result.mappings().first()
        if row is None or not keys_equal(row["hash"], digest) or row["revoked_ns"] is not None:
            return None
        return principal_for(self._key(row), row["user_plan"], row["user_overrides"], self._plans)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        async with self._read("reading a key") as db:
            result = await db.execute(self._sql.select_key, {"key_id": key_id})
            row = result.mappings().first()
        return None if row is None else self._key(row)

    async def list_keys(self, user: str | None = None) -> list[KeyRecord]:
        """Keys (of one user, or all), oldest first."""
        async with self._read("listing keys") as db:
            if user is None:
                result = await db.execute(self._sql.list_keys)
            else:
                result = await db.execute(self._sql.list_user_keys, {"user": user})
            rows = result.mappings().all()
        return [self._key(row) for row in rows]

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; True if it was active, False if unknown or already revoked."""
        async with self._write("revoking a key") as db:
            params = {"b_key_id": key_id, "now": self._clock.time_ns()}
            return bool((await db.execute(self._sql.revoke_key, params)).rowcount)

    # -- usage ----------------------------------------------------------------------------------

    async def add_usage(self, deltas: dict[str, Usage]) -> None:
        """Add usage deltas (e.g. ``Meter.drain()``) to the per-key totals."""
        if not deltas:
            return
        now = self._clock.time_ns()
        rows = [
            {
                "key_id": key,
                "connections": usage.connections,
                "connection_seconds": float(usage.connection_seconds),
                "messages": usage.messages,
                "bytes": usage.bytes,
                "predictions": usage.predictions,
                "updated_ns": now,
            }
            for key, usage in sorted(deltas.items())  # one lock order for concurrent flushes
        ]
        async with self._write("recording usage") as db:
            await db.execute(self._sql.add_usage, rows)

    async def usage(self, key_id: str | None = None) -> dict[str, Usage]:
        """Usage totals by key id (of one key, or all)."""
        async with self._read("reading usage") as db:
            if key_id is None:
                result = await db.execute(self._sql.list_usage)
            else:
                result = await db.execute(self._sql.select_usage, {"key_id": key_id})
            rows = result.mappings().all()
        return {
            row["key_id"]: Usage(**{name: row[name] for name in USAGE_COUNTERS}) for row in rows
        }

    # -- lifecycle ------------------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema if not done yet; StorageError once closed."""

    @abstractmethod
    async def close(self) -> None:
        """Release the database; later calls raise StorageError. Closing twice is harmless."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
