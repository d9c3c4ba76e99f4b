"""The store of users, API keys and usage: records and the :class:`Store` protocol.

Semantics every implementation follows:

* ``create_user`` is idempotent for the same plan (returns the existing user) and raises
  ConfigError if the user exists with another plan; ``ensure_user`` returns an existing user
  whatever its plan, creating it only if missing.
* Plan names (of users and keys) must be keys of the plans dict the store was given; an unknown
  plan, user, key prefix or scope raises ConfigError.
* ``create_key`` returns the plaintext key exactly once; only its SHA-256 is stored.
* ``authenticate`` returns None for a malformed, unknown or revoked key, and for a key whose plan
  no longer exists in the configuration (logged as a warning).
* Backend failures raise StorageError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tickcast.auth.keys import DEFAULT_PREFIX
from tickcast.auth.metering import Usage
from tickcast.auth.plans import Plan
from tickcast.errors import ConfigError
from tickcast.model.names import USER_NAME_RULE, is_user_name

SCOPES: frozenset[str] = frozenset({"publish"})
"""Scopes a key may carry. ``publish`` lets the key use the publish API whatever its plan."""


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name (``model.names``), else raise ConfigError."""
    if not is_user_name(name):
        raise ConfigError(f"invalid user name {name!r}: {USER_NAME_RULE}")
    return name


def check_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """Return ``scopes`` if all are known, else raise ConfigError."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise ConfigError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return frozenset(scopes)


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A customer account; its keys use its plan unless a key names its own."""

    name: str
    plan: str
    created_ns: int
    overrides: dict[str, object] = field(default_factory=dict)
    """Per-user changes to the plan's fields (see ``Plan.with_overrides``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """What the store knows about a key: never the key itself, only its hash."""

    key_id: str
    user: str
    prefix: str
    hash: str
    plan: str | None
    """The key's own plan, or None to use the user's plan."""
    scopes: frozenset[str]
    created_ns: int
    revoked: bool
    test: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who a connection is, once its key is authenticated, and what the effective plan grants."""

    user: str
    key_id: str
    plan: Plan
    """The key's (or else the user's) plan with the user's overrides applied."""
    test: bool
    scopes: frozenset[str]

    @property
    def can_publish(self) -> bool:
        """Whether the principal may use the publish API (plan ``publish`` or scope)."""
        return self.plan.publish or "publish" in self.scopes


class Store(Protocol):
    """Users, keys and usage totals. All methods may raise StorageError."""

    async def create_user(self, name: str, plan: str) -> User:
        """Create a user; idempotent for the same plan, ConfigError for another plan."""
        ...

    async def ensure_user(self, name: str, plan: str) -> User:
        """The existing user (plan unchanged), or a new one with ``plan``."""
        ...

    async def get_user(self, name: str) -> User | None: ...

    async def list_users(self) -> list[User]:
        """All users, by name."""
        ...

    async def set_user_plan(self, name: str, plan: str) -> User:
        """Change a user's plan; ConfigError for an unknown user or plan."""
        ...

    async def set_user_overrides(self, name: str, overrides: dict[str, object]) -> User:
        """Replace a user's plan overrides (validated against the plan); ConfigError if bad."""
        ...

    async def create_key(
        self,
        *,
        user: str,
        prefix: str = DEFAULT_PREFIX,
        plan: str | None = None,
        scopes: frozenset[str] = frozenset(),
    ) -> tuple[str, KeyRecord]:
        """Make a key for an existing user; returns the plaintext (shown once) and the record."""
        ...

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid key; None for malformed, unknown or revoked keys."""
        ...

    async def get_key(self, key_id: str) -> KeyRecord | None: ...

    async def list_keys(self, user: str | None = None) -> list[KeyRecord]:
        """Keys (of one user, or all), oldest first."""
        ...

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; True if it was active, False if unknown or already revoked."""
        ...

    async def add_usage(self, deltas: dict[str, Usage]) -> None:
        """Add usage deltas (e.g. ``Meter.drain()``) to the per-key totals."""
        ...

    async def usage(self, key_id: str | None = None) -> dict[str, Usage]:
        """Usage totals by key id (of one key, or all)."""
        ...

    async def close(self) -> None: ...


def principal_for(
    record: KeyRecord,
    user_plan: str,
    user_overrides: Mapping[str, object],
    plans: Mapping[str, Plan],
) -> Principal | None:
    """The principal of an authenticated key: its plan (or its user's) with the user's overrides;
    None, logged as a warning, when the plan is gone or the overrides are bad."""
    log = logging.getLogger("tickcast.storage")
    plan_name = record.plan or user_plan
    plan = plans.get(plan_name)
    if plan is None:
        log.warning("key %s refused: plan %r is not configured", record.key_id, plan_name)
        return None
    try:
        plan = plan.with_overrides(**user_overrides)
    except ConfigError as exc:
        log.warning(
            "key %s refused: bad overrides of user %s: %s", record.key_id, record.user, exc.message
        )
        return None
    return Principal(
        user=record.user, key_id=record.key_id, plan=plan, test=record.test, scopes=record.scopes
    )
