"""Every statement of the SQL store, built once per dialect with named parameters.

Built once (not per call) so that a call costs only the execution: SQLAlchemy finds the compiled
form in its cache by the statement object. The dialect matters only for the ``ON CONFLICT``
clauses, which SQLAlchemy spells through ``sqlalchemy.dialects.<name>.insert``; both forms are
standard SQL accepted by SQLite (3.24+) and PostgreSQL (9.5+).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.sql import Executable

from tickcast.storage.schema import USAGE_COUNTERS, api_keys, usage, users

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

_USAGE_COLUMNS = (usage.c.key_id, *(usage.c[name] for name in USAGE_COUNTERS))


@dataclass(frozen=True, slots=True)
class Statements:
    """The store's statements for one dialect (parameter names in the comments)."""

    select_user: Executable  # name
    lock_user: Executable  # name; FOR UPDATE on PostgreSQL, a no-op in SQLite's write lock
    share_user: Executable  # name; FOR SHARE on PostgreSQL
    list_users: Executable
    insert_user: Executable  # name, plan, created_ns; does nothing if the name is taken
    update_plan: Executable  # b_name, new_plan
    update_overrides: Executable  # b_name, new_overrides
    insert_key: Executable  # every api_keys column; does nothing on a key id or hash conflict
    authenticate: Executable  # digest
    select_key: Executable  # key_id
    list_keys: Executable
    list_user_keys: Executable  # user
    revoke_key: Executable  # b_key_id, now
    add_usage: Executable  # every usage column, one parameter set per key
    list_usage: Executable
    select_usage: Executable  # key_id


def _insert(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def statements_for(dialect: str) -> Statements:
    """The statements for the SQLAlchemy dialect named ``dialect``."""
    insert = _insert(dialect)
    by_name = users.c.name == bindparam("name")
    to_update = users.c.name == bindparam("b_name")  # a column's name is taken in UPDATE
    upsert_usage = insert(usage)
    key_order = (api_keys.c.created_ns, api_keys.c.key_id)
    return Statements(
        select_user=select(users).where(by_name),
        lock_user=select(users).where(by_name).with_for_update(),
        share_user=select(users.c.name).where(by_name).with_for_update(read=True),
        list_users=select(users).order_by(users.c.name),
        insert_user=insert(users)
        .values(name=bindparam("name"), plan=bindparam("plan"), created_ns=bindparam("created_ns"))
        .on_conflict_do_nothing(index_elements=[users.c.name]),
        update_plan=update(users).where(to_update).values(plan=bindparam("new_plan")),
        update_overrides=update(users)
        .where(to_update)
        .values(overrides=bindparam("new_overrides", type_=users.c.overrides.type)),
        insert_key=insert(api_keys).on_conflict_do_nothing(),
        authenticate=select(
            api_keys,
            users.c.plan.label("user_plan"),
            users.c.overrides.label("user_overrides"),
        )
        .join_from(api_keys, users, api_keys.c.user_name == users.c.name)
        .where(api_keys.c.hash == bindparam("digest")),
        select_key=select(api_keys).where(api_keys.c.key_id == bindparam("key_id")),
        list_keys=select(api_keys).order_by(*key_order),
        list_user_keys=select(api_keys)
        .where(api_keys.c.user_name == bindparam("user"))
        .order_by(*key_order),
        revoke_key=update(api_keys)
        .where(api_keys.c.key_id == bindparam("b_key_id"), api_keys.c.revoked_ns.is_(None))
        .values(revoked_ns=bindparam("now")),
        add_usage=upsert_usage.on_conflict_do_update(
            index_elements=[usage.c.key_id],
            set_={
                **{name: usage.c[name] + upsert_usage.excluded[name] for name in USAGE_COUNTERS},
                "updated_ns": upsert_usage.excluded.updated_ns,
            },
        ),
        list_usage=select(*_USAGE_COLUMNS).order_by(usage.c.key_id),
        select_usage=select(*_USAGE_COLUMNS).where(usage.c.key_id == bindparam("key_id")),
    )
