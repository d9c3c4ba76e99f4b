"""Persistent users, API keys and usage.

The protocol and records are here; the SQLite backend is ``tickcast.storage.sqlite`` (imported
on its own so that ``sqlite3`` is only loaded where it is used).
"""

from tickcast.storage.base import SCOPES, KeyRecord, Principal, Store, User

__all__ = ["SCOPES", "KeyRecord", "Principal", "Store", "User"]
