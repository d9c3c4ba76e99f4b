"""The Store contract, run on SQLite and on PostgreSQL (``backend`` in conftest.py).

Users, keys (hash-only), authentication, revocation, usage and persistence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tests.unit.storage.conftest import Backend

from tickcast.auth.keys import hash_key, key_id
from tickcast.auth.metering import Usage
from tickcast.auth.plans import Plan
from tickcast.clock import ManualClock
from tickcast.errors import ConfigError, StorageError
from tickcast.storage.base import Store


@asynccontextmanager
async def opened(backend: Backend, plans: dict[str, Plan]) -> AsyncIterator[Store]:
    store = backend.open(plans)
    try:
        yield store
    finally:
        await store.close()


async def test_store_create_user_is_idempotent_for_same_plan(store: Store) -> None:
    """Creating a user twice with the same plan returns the same user."""
    first = await store.create_user("alice", "pro")
    assert await store.create_user("alice", "pro") == first
    assert await store.get_user("alice") == first
    assert [user.name for user in await store.list_users()] == ["alice"]


async def test_store_create_user_rejects_other_plan_and_unknown_plan(store: Store) -> None:
    """A different plan for an existing user, or an unknown plan, is a ConfigError."""
    await store.create_user("alice", "pro")
    with pytest.raises(ConfigError, match="already exists"):
        await store.create_user("alice", "free")
    with pytest.raises(ConfigError, match="valid plans: free, pro"):
        await store.create_user("bob", "gold")
    with pytest.raises(ConfigError, match="invalid user name"):
        await store.create_user("", "pro")


async def test_store_ensure_user_keeps_existing_plan(store: Store) -> None:
    """ensure_user never changes an existing user's plan."""
    await store.create_user("alice", "pro")
    assert (await store.ensure_user("alice", "free")).plan == "pro"
    assert (await store.ensure_user("bob", "free")).plan == "free"


async def test_store_create_and_authenticate_key(store: Store, clock: ManualClock) -> None:
    """A new key authenticates as its user with the user's plan."""
    await store.create_user("alice", "pro")
    key, record = await store.create_key(user="alice")
    assert record.key_id == key_id(key) and record.hash == hash_key(key)
    assert record.prefix == "tc_live_" and not record.test and not record.revoked
    assert record.plan is None and record.created_ns == clock.time_ns()
    principal = await store.authenticate(key)
    assert principal is not None
    assert (principal.user, principal.key_id, principal.plan.name) == (
        "alice",
        record.key_id,
        "pro",
    )
    assert not principal.test and not principal.can_publish


async def test_store_authenticate_rejects_unknown_and_malformed(store: Store) -> None:
    """Unknown, malformed and empty keys authenticate as None."""
    await store.create_user("alice", "pro")
    key, _ = await store.create_key(user="alice")
    assert await store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await store.authenticate("") is None
    assert await store.authenticate("nonsense") is None


async def test_store_revoke_key(store: Store) -> None:
    """A revoked key no longer authenticates; revoking twice or unknown returns False."""
    await store.create_user("alice", "pro")
    key, record = await store.create_key(user="alice")
    assert await store.revoke_key(record.key_id)
    assert await store.authenticate(key) is None
    assert not await store.revoke_key(record.key_id)
    assert not await store.revoke_key("tc_live_00000000")
    revoked = await store.get_key(record.key_id)
    assert revoked is not None and revoked.revoked


async def test_store_keeps_only_the_hash(store: Store, backend: Backend) -> None:
    """The plaintext key appears nowhere in the database; its hash does."""
    await store.create_user("alice", "pro")
    key, _ = await store.create_key(user="alice")
    contents = await backend.raw()
    await store.close()
    contents += await backend.raw()
    assert key.encode() not in contents
    assert key.split("_")[-1].encode() not in contents
    assert hash_key(key).encode() in contents


async def test_store_key_prefix_and_test_keys(store: Store) -> None:
    """The prefix is recorded; *_test_ prefixes make test keys; bad prefixes are refused."""
    await store.create_user("ci", "free")
    key, record = await store.create_key(user="ci", prefix="ci_test_")
    assert key.startswith("ci_test_") and record.prefix == "ci_test_" and record.test
    principal = await store.authenticate(key)
    assert principal is not None and principal.test
    with pytest.raises(ConfigError, match="prefix"):
        await store.create_key(user="ci", prefix="ci_prod_")


async def test_store_key_plan_overrides_user_plan(store: Store) -> None:
    """A key with its own plan uses it; a key without follows the user's plan."""
    await store.create_user("alice", "free")
    own_key, own = await store.create_key(user="alice", plan="pro")
    user_key, _ = await store.create_key(user="alice")
    assert own.plan == "pro"
    await store.set_user_plan("alice", "admin")
    own_principal = await store.authenticate(own_key)
    user_principal = await store.authenticate(user_key)
    assert own_principal is not None and own_principal.plan.name == "pro"
    assert user_principal is not None and user_principal.plan.name == "admin"
    with pytest.raises(ConfigError, match="unknown plan"):
        await store.create_key(user="alice", plan="gold")


async def test_store_create_key_needs_user_and_known_scopes(store: Store) -> None:
    """Keys need an existing user; scopes must be known and are returned on the principal."""
    with pytest.raises(ConfigError, match="unknown user"):
        await store.create_key(user="nobody")
    await store.create_user("feed", "pro")
    with pytest.raises(ConfigError, match="unknown scope"):
        await store.create_key(user="feed", scopes=frozenset({"root"}))
    key, record = await store.create_key(user="feed", scopes=frozenset({"publish"}))
    principal = await store.authenticate(key)
    assert record.scopes == {"publish"}
    assert principal is not None and principal.scopes == {"publish"} and principal.can_publish


async def test_store_user_overrides_apply_to_plan(store: Store) -> None:
    """User overrides change the effective plan and are validated."""
    await store.create_user("alice", "free")
    key, _ = await store.create_key(user="alice")
    user = await store.set_user_overrides("alice", {"max_connections": 5, "feeds": ("x-feed",)})
    assert user.overrides == {"max_connections": 5, "feeds": ["x-feed"]}
    principal = await store.authenticate(key)
    assert principal is not None
    assert principal.plan.max_connections == 5 and principal.plan.feeds == {"x-feed"}
    with pytest.raises(ConfigError, match="max_connections"):
        await store.set_user_overrides("alice", {"max_connections": 0})


async def test_store_list_keys_by_user(store: Store, clock: ManualClock) -> None:
    """list_keys returns all keys oldest first, or one user's."""
    await store.create_user("alice", "pro")
    await store.create_user("bob", "free")
    _, a1 = await store.create_key(user="alice")
    clock.advance(1)
    _, b1 = await store.create_key(user="bob")
    clock.advance(1)
    _, a2 = await store.create_key(user="alice")
    assert [k.key_id for k in await store.list_keys()] == [a1.key_id, b1.key_id, a2.key_id]
    assert [k.key_id for k in await store.list_keys("alice")] == [a1.key_id, a2.key_id]
    assert await store.list_keys("carol") == []


async def test_store_usage_accumulates(store: Store) -> None:
    """add_usage sums deltas into per-key totals."""
    await store.add_usage({"k1": Usage(connections=1, messages=10, bytes=100)})
    await store.add_usage(
        {"k1": Usage(connection_seconds=2.5, messages=5, predictions=1), "k2": Usage(bytes=7)}
    )
    await store.add_usage({})
    assert await store.usage() == {
        "k1": Usage(connections=1, connection_seconds=2.5, messages=15, bytes=100, predictions=1),
        "k2": Usage(bytes=7),
    }
    assert await store.usage("k2") == {"k2": Usage(bytes=7)}
    assert await store.usage("k3") == {}


async def test_store_persists_across_reopen(
    backend: Backend, plans: dict[str, Plan], clock: ManualClock
) -> None:
    """Users, keys, revocations and usage survive closing and reopening the store."""
    async with opened(backend, plans) as store:
        await store.create_user("alice", "pro")
        key, record = await store.create_key(user="alice")
        clock.advance(1)
        _, gone = await store.create_key(user="alice")
        await store.revoke_key(gone.key_id)
        await store.add_usage({record.key_id: Usage(messages=3)})
    async with opened(backend, plans) as store:
        principal = await store.authenticate(key)
        assert principal is not None and principal.user == "alice"
        assert [k.revoked for k in await store.list_keys()] == [False, True]
        assert await store.usage() == {record.key_id: Usage(messages=3)}


async def test_store_refuses_keys_of_unconfigured_plans(
    backend: Backend, plans: dict[str, Plan]
) -> None:
    """A key whose plan is no longer configured does not authenticate."""
    async with opened(backend, plans) as store:
        await store.create_user("alice", "publisher")
        key, _ = await store.create_key(user="alice")
    fewer = {name: plan for name, plan in plans.items() if name != "publisher"}
    async with opened(backend, fewer) as store:
        assert await store.authenticate(key) is None


async def test_store_closed_raises_storage_error(store: Store) -> None:
    """Using a closed store raises StorageError; closing twice is harmless."""
    await store.close()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.list_users()
