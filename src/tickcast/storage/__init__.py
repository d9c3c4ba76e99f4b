"""Persistent users, API keys and usage.

The protocol and records are here (``base``); the one SQL store is ``tickcast.storage.sql`` with
its backends ``tickcast.storage.sqlite`` and ``tickcast.storage.postgres``, each imported on its
own (``factory.open_store``) so that SQLAlchemy and the drivers are only loaded where used.
"""

from tickcast.storage.base import SCOPES, KeyRecord, Principal, Store, User

__all__ = ["SCOPES", "KeyRecord", "Principal", "Store", "User"]
