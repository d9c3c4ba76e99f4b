"""tickcast's optional parts (pip extras) and the library releases the server is tested with.

``pip install tickcast`` (or ``tickcast[client]``) is the SDK alone. The server needs the
``server`` extra; the Redis bus, the PostgreSQL store and predictions need ``redis``,
``postgres`` and ``predict`` (``all`` is every one of them). Choosing a feature whose extra is
missing fails at start with a message naming the extra (docs/installing.md).

``SUPPORTED`` is the range of each library whose internals the server uses (pyproject.toml says
which internal; a test keeps the two in step). ``tickcast serve`` refuses to start outside it.
Standard library only: this runs before any of those libraries is imported.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from importlib import metadata

from tickcast.errors import ConfigError

EXTRAS: dict[str, tuple[str, ...]] = {
    "server": (
        "starlette", "fastapi", "fastapi_offline", "uvicorn", "httpx", "prometheus_client",
        "orjson", "socketio", "engineio", "httptools", "sqlalchemy", "alembic",
    ),
    "redis": ("redis",),
    "postgres": ("asyncpg", "greenlet"),
    "predict": ("numpy", "sklearn", "skops"),
}  # fmt: skip
"""The importable modules each extra brings."""

SUPPORTED: dict[str, tuple[str, str]] = {
    "uvicorn": ("0.53", "0.56"),
    "python-socketio": ("5.11", "5.19"),
    "python-engineio": ("4.9", "4.16"),
    "websockets": ("15", "18"),
}
"""Distribution -> (lowest supported release, first unsupported release)."""


class MissingExtra(ConfigError):
    """A chosen feature needs a pip extra that is not installed."""


class UnsupportedDependency(ConfigError):
    """An installed library is outside the range tickcast is tested with."""


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def available(extra: str) -> bool:
    return not missing_modules(extra)


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless every module of it is installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(
            f"{feature} needs tickcast's '{extra}' extra (missing: {', '.join(missing)}); "
            f"install it with: pip install 'tickcast[{extra}]'"
        )


def release(text: str) -> tuple[int, ...]:
    """The numeric release of a version string: ``"0.35.0rc1"`` -> ``(0, 35, 0)``."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    parts = [int(part) for part in match.group().split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_supported(installed: Callable[[str], str | None] = _installed) -> None:
    """Raise :class:`UnsupportedDependency` for the first library outside ``SUPPORTED``.

    A pre-release of the first unsupported release (``0.56.0rc1``) is refused too."""
    for distribution, (lowest, below) in SUPPORTED.items():
        version = installed(distribution)
        if version is None:
            continue  # a missing library is require()'s message, not this one
        if not release(lowest) <= release(version) < release(below):
            raise UnsupportedDependency(
                f"{distribution} {version} is installed, but tickcast supports "
                f"{distribution}>={lowest},<{below} (it relies on that library's internals; "
                "see pyproject.toml). Install the tested versions with scripts/install-python "
                f"serve, or: pip install '{distribution}>={lowest},<{below}'"
            )
