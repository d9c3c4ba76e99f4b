"""Store URLs: which backend a ``store`` setting names, and how to show it without its password.

``""`` (the default), ``sqlite`` or ``sqlite://`` is the SQLite file in the data directory;
``sqlite:///PATH`` is that file (relative ``sqlite:///db.sqlite3``, absolute
``sqlite:////var/lib/tickcast/db.sqlite3``); ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (or
``postgres://``) is a PostgreSQL database. No driver is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from tickcast.errors import ConfigError

StoreKind = Literal["sqlite", "postgresql"]

POSTGRES_SCHEMES = ("postgresql", "postgres")
STORE_URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def store_kind(url: str | None) -> StoreKind:
    """The backend a store URL names; ConfigError (without the URL's password) otherwise."""
    if not url or url in ("sqlite", "sqlite://") or url.startswith("sqlite:///"):
        return "sqlite"
    scheme = url.split(":", 1)[0].lower()
    if scheme in POSTGRES_SCHEMES and url[len(scheme) :].startswith("://"):
        return "postgresql"
    raise ConfigError(f"config key 'store': bad value {redact(url)!r}; expected {STORE_URL_FORMS}")


def sqlite_path(url: str | None, data_dir: Path) -> Path | None:
    """The SQLite file a ``sqlite:///PATH`` URL names, or None for the data directory's default."""
    if url and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    return None


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and error messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return "<unparseable store URL>"
