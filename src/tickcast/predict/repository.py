"""Where models live: the :class:`ModelRepository` protocol and its filesystem implementation.

A model version is two things: its metadata (:class:`ModelMeta`, JSON) and its blob (the skops
bytes of the estimator). Versions of a model count up from 1; saving assigns the next number and
the newest version is the one served. A PostgreSQL-backed repository can implement the same
protocol later (metadata rows and a bytea blob).

Filesystem layout under ``<data-dir>/models``::

    <user>/<strategy>/<type>/<name>/v<N>.json    metadata of version N
    <user>/<strategy>/<type>/<name>/v<N>.skops   the estimator of version N

Files are written to a temporary name and renamed, blob first, so a reader never sees metadata
without its blob. Every path component is a validated name (no ``/``, no leading ``.``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import Protocol

from tickcast.model.names import is_user_name
from tickcast.predict.spec import ModelError, ModelMeta, ModelRef

_VERSION_RE = re.compile(r"^v([0-9]{1,9})\.json$")


class ModelRepository(Protocol):
    """Model metadata and blobs, per user. Methods may raise StorageError or ModelError."""

    async def save(self, meta: ModelMeta, blob: bytes) -> ModelMeta:
        """Store a new version of ``meta.ref``; returns the metadata with its version set."""
        ...

    async def latest(self, ref: ModelRef) -> ModelMeta | None:
        """The newest version's metadata, or None if the model does not exist."""
        ...

    async def versions(self, ref: ModelRef) -> list[ModelMeta]:
        """Every stored version, oldest first."""
        ...

    async def blob(self, ref: ModelRef, version: int) -> bytes:
        """The estimator bytes of one version (ModelError if missing)."""
        ...

    async def list(self, user: str | None = None) -> list[ModelMeta]:
        """The newest version of every model (of one user, or all), sorted by reference."""
        ...

    async def delete(self, ref: ModelRef) -> bool:
        """Delete every version; True if the model existed."""
        ...


class FilesystemRepository:
    """:class:`ModelRepository` on a directory (metadata JSON + skops blob per version).

    The file operations are small and run in a worker thread so the event loop never waits
    on the disk.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, ref: ModelRef) -> Path:
        return self.root / ref.user / ref.strategy / ref.type / ref.name

    # -- synchronous core (used from worker threads and by the CLI) -------------------------

    def _version_numbers(self, ref: ModelRef) -> list[int]:
        try:
            names = os.listdir(self._dir(ref))
        except FileNotFoundError:
            return []
        found = (_VERSION_RE.match(name) for name in names)
        return sorted(int(match.group(1)) for match in found if match)

    def _read_meta(self, ref: ModelRef, version: int) -> ModelMeta:
        path = self._dir(ref) / f"v{version}.json"
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise ModelError(f"model {ref} v{version}: unreadable metadata ({error})") from None
        meta = ModelMeta.from_dict(data)
        if meta.ref != ref or meta.version != version:
            raise ModelError(f"model {ref} v{version}: metadata names another model")
        return meta

    def save_sync(self, meta: ModelMeta, blob: bytes) -> ModelMeta:
        directory = self._dir(meta.ref)
        directory.mkdir(parents=True, exist_ok=True)
        version = max(self._version_numbers(meta.ref), default=0) + 1
        while True:
            stored = dataclasses.replace(meta, version=version)
            meta_path = directory / f"v{version}.json"
            blob_path = directory / f"v{version}.skops"
            try:  # claim the version number atomically (another writer may race us)
                fd = os.open(blob_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                version += 1
                continue
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            temporary = directory / f".v{version}.json.tmp"
            temporary.write_text(json.dumps(stored.as_dict(), indent=2, sort_keys=True))
            os.replace(temporary, meta_path)
            return stored

    def latest_sync(self, ref: ModelRef) -> ModelMeta | None:
        numbers = self._version_numbers(ref)
        return self._read_meta(ref, numbers[-1]) if numbers else None

    def versions_sync(self, ref: ModelRef) -> list[ModelMeta]:
        return [self._read_meta(ref, n) for n in self._version_numbers(ref)]

    def blob_sync(self, ref: ModelRef, version: int) -> bytes:
        try:
            return (self._dir(ref) / f"v{version}.skops").read_bytes()
        except OSError:
            raise ModelError(f"model {ref} v{version}: blob missing") from None

    def list_sync(self, user: str | None = None) -> list[ModelMeta]:
        if user is not None and not is_user_name(user):  # never a path outside the root
            raise ModelError(f"invalid user name {user!r}")
        found: list[ModelMeta] = []
        users = [user] if user is not None else _subdirs(self.root)
        for name in users:
            for strategy in _subdirs(self.root / name):
                for model_type in _subdirs(self.root / name / strategy):
                    for model in _subdirs(self.root / name / strategy / model_type):
                        try:
                            ref = ModelRef.checked(name, strategy, model, model_type)
                            meta = self.latest_sync(ref)
                        except ModelError:
                            continue
                        if meta is not None:
                            found.append(meta)
        return sorted(found, key=lambda m: m.ref)

    def delete_sync(self, ref: ModelRef) -> bool:
        directory = self._dir(ref)
        if not directory.is_dir():
            return False
        shutil.rmtree(directory)
        return True

    # -- the async protocol -----------------------------------------------------------------

    async def save(self, meta: ModelMeta, blob: bytes) -> ModelMeta:
        return await asyncio.to_thread(self.save_sync, meta, blob)

    async def latest(self, ref: ModelRef) -> ModelMeta | None:
        return await asyncio.to_thread(self.latest_sync, ref)

    async def versions(self, ref: ModelRef) -> list[ModelMeta]:
        return await asyncio.to_thread(self.versions_sync, ref)

    async def blob(self, ref: ModelRef, version: int) -> bytes:
        return await asyncio.to_thread(self.blob_sync, ref, version)

    async def list(self, user: str | None = None) -> list[ModelMeta]:
        return await asyncio.to_thread(self.list_sync, user)

    async def delete(self, ref: ModelRef) -> bool:
        return await asyncio.to_thread(self.delete_sync, ref)


def _subdirs(path: Path) -> list[str]:
    try:
        return sorted(
            entry.name
            for entry in os.scandir(path)
            if entry.is_dir() and not entry.name.startswith(".")
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
