"""Storage: versions on the filesystem, and nothing unsafe is ever loaded."""

from __future__ import annotations

import asyncio
import io
import pickle
import zipfile
from pathlib import Path

import pytest
import skops.io

from tickcast.predict.blobs import check_blob, load_estimator
from tickcast.predict.registry import ModelRegistry
from tickcast.predict.repository import FilesystemRepository
from tickcast.predict.spec import ModelError, ModelRef
from tickcast.predict.training import table_from_csv

CSV = "x1,x2,label\n" + "".join(f"{i % 4},{i % 3},{'a' if i % 4 > 1 else 'b'}\n" for i in range(24))


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_pickles_and_untrusted_types_are_refused() -> None:
    with pytest.raises(ModelError, match="pickle"):
        check_blob(pickle.dumps(Payload()))
    with pytest.raises(ModelError, match="untrusted types"):
        load_estimator(skops.io.dumps(Payload()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", "{not json")
    with pytest.raises(ModelError):
        load_estimator(buffer.getvalue())
    with pytest.raises(ModelError, match="not a supported estimator"):
        load_estimator(skops.io.dumps({"a": 1}))


async def test_versions_list_and_delete(tmp_path: Path) -> None:
    repository = FilesystemRepository(tmp_path / "models")
    registry = ModelRegistry(repository)
    ref = ModelRef.checked("ann", "strat", "m1", "class")
    table = table_from_csv(CSV, "label")
    first = await registry.train(table, ref, algorithm="decision_tree")
    second = await registry.train(table, ref, algorithm="random_forest")
    assert (first.version, second.version) == (1, 2)
    assert [m.version for m in await repository.versions(ref)] == [1, 2]
    loaded = await registry.load(ref)
    assert loaded is not None and loaded.meta.algorithm == "random_forest"
    assert loaded.meta.features == ("x1", "x2") and loaded.meta.rows == 24
    other = ModelRef.checked("bob", "strat", "m1", "reg")
    assert await registry.load(other) is None
    assert [m.ref for m in await repository.list()] == [ref]
    assert await repository.list("bob") == []
    # a blob replaced on disk by a pickle is refused at load, never unpickled
    (tmp_path / "models/ann/strat/class/m1/v3.skops").write_bytes(pickle.dumps(Payload()))
    meta3 = second.as_dict() | {"version": 3}
    (tmp_path / "models/ann/strat/class/m1/v3.json").write_text(__import__("json").dumps(meta3))
    fresh = ModelRegistry(repository)
    with pytest.raises(ModelError, match="pickle"):
        await fresh.load(ref)
    assert await registry.delete(ref) and not await registry.delete(ref)
    assert await registry.load(ref) is None


def test_names_are_safe_path_components() -> None:
    for bad in ("../x", ".hidden", "a/b", "", "x" * 65, "a b"):
        with pytest.raises(ModelError):
            ModelRef.checked("ann", bad, "m", "class")
    with pytest.raises(ModelError):
        ModelRef.checked("ann", "s", "m", "svm")
    for bad_user in ("../ann", ".ann", "a/b", ""):
        with pytest.raises(ModelError):
            ModelRef.checked(bad_user, "s", "m", "class")
    assert ModelRef.checked("ann+bot@example.com", "s", "m", "reg").user == "ann+bot@example.com"


def test_training_input_errors() -> None:
    with pytest.raises(ModelError, match="target column 'nope'"):
        table_from_csv(CSV, "nope")
    with pytest.raises(ModelError, match="line 2, column 'x1'"):
        table_from_csv("x1,label\nabc,a\n", "label")
    with pytest.raises(ModelError, match="at least 4 rows"):
        table_from_csv("x1,label\n1,a\n2,b\n", "label")
    with pytest.raises(ModelError, match="3 columns, header has 2"):
        table_from_csv("x1,label\n1,a,3\n", "label")


async def test_changes_made_elsewhere_are_seen_after_the_recheck_interval(tmp_path: Path) -> None:
    """Another writer (the CLI) retrains and deletes; the serving registry answers from its
    cache without I/O, re-checks in the background once ``recheck_s`` has passed."""
    now = [0.0]
    serving = ModelRegistry(FilesystemRepository(tmp_path), recheck_s=1.0, now=lambda: now[0])
    writer = ModelRegistry(FilesystemRepository(tmp_path))
    ref = ModelRef.checked("ann", "strat", "m1", "class")
    table = table_from_csv(CSV, "label")
    await writer.train(table, ref, algorithm="decision_tree")
    first = await serving.load(ref)
    assert first is not None and first.meta.version == 1
    await writer.train(table, ref, algorithm="logistic_regression")
    assert serving.cached(ref) is first  # fresh enough: no re-check
    now[0] = 1.5
    assert serving.cached(ref) is first  # stale: served, re-check started
    await asyncio.gather(*serving._tasks)
    second = serving.cached(ref)
    assert second is not None and second.meta.version == 2
    await writer.delete(ref)
    now[0] = 3.0
    assert serving.cached(ref) is second
    await asyncio.gather(*serving._tasks)
    assert serving.cached(ref) is None and await serving.load(ref) is None
