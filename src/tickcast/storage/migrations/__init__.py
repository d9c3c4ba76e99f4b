"""Alembic migrations of the SQL store, SQLite and PostgreSQL (run by ``storage.migrate``)."""
