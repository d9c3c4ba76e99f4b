"""Fixtures for store tests: a SqliteStore in a temporary directory with a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tickcast.auth.plans import Plan, load_plans
from tickcast.clock import ManualClock
from tickcast.storage.sqlite import SqliteStore, default_db_path


@pytest.fixture
def plans() -> dict[str, Plan]:
    return load_plans()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return default_db_path(tmp_path)


@pytest.fixture
async def store(
    db_path: Path, plans: dict[str, Plan], clock: ManualClock
) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(path=db_path, plans=plans, clock=clock)
    yield store
    await store.close()
