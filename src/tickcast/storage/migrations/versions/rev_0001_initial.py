"""Users, API keys (hashes only) and usage totals: the schema of SQLite schema version 1.

Text keys use the "C" collation so that listings sort as in SQLite (by code point).

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


def upgrade() -> None:
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
