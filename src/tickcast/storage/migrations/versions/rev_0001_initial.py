"""Users, API keys (hashes only) and usage totals.

PostgreSQL: text keys use the "C" collation so that listings sort as in SQLite (by code point).
SQLite: exactly the schema that releases before alembic created (``PRAGMA user_version = 1``),
statement for statement, so that their files are stamped at this revision and upgraded from here
(see ``tickcast.storage.migrate``).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


SQLITE_SCHEMA_V1 = (
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
)
"""The statements of the pre-alembic SQLite store's migration to its schema version 1."""


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_SCHEMA_V1:
            op.execute(statement)
        return
    _upgrade_postgresql()


def _upgrade_postgresql() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.Text(collation="C"), primary_key=True),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column(
            "overrides", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("user_name", sa.Text(collation="C"), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False, unique=True),
        sa.Column("plan", sa.Text, nullable=True),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("revoked_ns", sa.BigInteger, nullable=True),
        sa.Column("test", sa.Boolean, nullable=False),
    )
    op.create_index("api_keys_user", "api_keys", ["user_name"])
    op.create_table(
        "usage",
        sa.Column("key_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("connections", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("connection_seconds", sa.Float(53), nullable=False, server_default="0"),
        sa.Column("messages", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("predictions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage")
    op.drop_index("api_keys_user", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
