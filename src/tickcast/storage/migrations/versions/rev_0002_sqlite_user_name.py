"""SQLite: ``api_keys.user`` renamed ``user_name``, as on PostgreSQL, so one table definition
(``tickcast.storage.schema``) serves both databases. Nothing to do on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute('ALTER TABLE api_keys RENAME COLUMN "user" TO user_name')


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute('ALTER TABLE api_keys RENAME COLUMN user_name TO "user"')
