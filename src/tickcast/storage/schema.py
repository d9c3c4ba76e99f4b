"""The store's tables as SQLAlchemy Core metadata, one definition for SQLite and PostgreSQL.

The migrations (``tickcast/storage/migrations``) create these tables; this module only describes
them for queries. Where the two databases store a value differently, a type below hides it:

* ``api_keys.scopes``: ``text[]`` on PostgreSQL, space-separated text on SQLite (as written by
  every release before the SQL stores were merged);
* ``users.overrides``: ``jsonb`` on PostgreSQL, JSON text on SQLite;
* ``api_keys.test``: ``boolean`` on PostgreSQL, ``0``/``1`` on SQLite.

Text keys carry the ``C`` collation on PostgreSQL (set by the migration) so that listings sort
byte-wise as in SQLite. PostgreSQL's types are imported only on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine


class Scopes(TypeDecorator[frozenset[str]]):
    """A set of scope names: a sorted ``text[]`` on PostgreSQL, space-separated text elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            return dialect.type_descriptor(ARRAY(Text))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Iterable[str] | None, dialect: Dialect) -> Any:
        names = sorted(value or ())
        return names if dialect.name == "postgresql" else " ".join(names)

    def process_result_value(self, value: Any, dialect: Dialect) -> frozenset[str]:
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset(value.split())
        return frozenset(value)


class Overrides(TypeDecorator[dict[str, object]]):
    """A user's plan overrides: ``jsonb`` on PostgreSQL, JSON text elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("plan", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("overrides", Overrides(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("user_name", Text, ForeignKey("users.name"), nullable=False),
    Column("prefix", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    Column("plan", Text, nullable=True),
    Column("scopes", Scopes(), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("revoked_ns", BigInteger, nullable=True),
    Column("test", Boolean, nullable=False),
)

usage = Table(
    "usage",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("connections", BigInteger, nullable=False),
    Column("connection_seconds", Float(53), nullable=False),
    Column("messages", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("predictions", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

USAGE_COUNTERS = ("connections", "connection_seconds", "messages", "bytes", "predictions")
"""The usage columns that hold totals (added to on every flush)."""
