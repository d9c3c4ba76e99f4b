"""Alembic migrations of the PostgreSQL store (run by ``tickcast.storage.postgres_schema``)."""
