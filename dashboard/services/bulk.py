"""Set-based work on "every user matching this filter".

A bulk service copies the ids of the matching users into a temporary table, locking their
``User`` rows in id order (so two bulk operations cannot deadlock), and then runs a few
``INSERT ... SELECT`` / ``UPDATE ... WHERE id IN (SELECT ...)`` statements against that
frozen set. The set never changes under the later statements, even when the change itself
would make users stop matching the filter (e.g. "balance is zero" before a grant). On
PostgreSQL each later statement also sees everything committed before the locks were taken.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import AuditLog, User
from dashboard.models.base import Timestamp

# A where-clause over User, a SELECT of User ids, or explicit ids (the ticked rows of a list).
UserFilter = sa.ColumnElement[bool] | sa.Select[Any] | Sequence[str]

ERR_NO_FILTER = "No users were selected."

_TEMPORARY = sa.MetaData()  # not Base.metadata: migrations must never see this table
TARGETS = sa.Table(
    "bo_tmp_targets",
    _TEMPORARY,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("tokens", sa.Integer),  # the balance when locked
    sa.Column("role", sa.Text),  # the role when locked
    sa.Column("sessions", sa.Integer),
    sa.Column("reference", sa.Text),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def users_where(user_filter: UserFilter) -> sa.ColumnElement[bool]:
    """The where-clause over ``User`` that ``user_filter`` stands for."""
    if user_filter is None or isinstance(user_filter, str):
        raise BackofficeError(ERR_NO_FILTER)
    if isinstance(user_filter, sa.Select):
        return User.id.in_(user_filter)
    if isinstance(user_filter, Sequence | set | frozenset):
        ids = list(user_filter)
        return User.id.in_(ids) if ids else sa.false()
    return user_filter


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _drop_targets(connection: sa.Connection) -> None:
    schema = "pg_temp" if connection.dialect.name == "postgresql" else "temp"
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{TARGETS.name}")


@contextmanager
def target_set() -> Iterator[sa.Table]:
    """The empty temporary target table, in the session's transaction. It goes away at the
    end of the block, or with the transaction if the block fails."""
    connection = db.session.connection()
    _drop_targets(connection)  # a leftover of a failed block in this same connection
    TARGETS.create(connection)
    yield TARGETS
    _drop_targets(connection)


def fill_targets(
    where: sa.ColumnElement[bool], *, reference: sa.ColumnElement[str] | None = None
) -> int:
    """Copy the matching users (id, balance, role, optional reference) into the target
    table, locking their rows in id order; return how many."""
    source = (
        sa.select(
            User.id,
            User.tokens,
            sa.cast(User.role, sa.Text),
            reference if reference is not None else sa.null(),
        )
        .where(where)
        .order_by(User.id)
        # NO KEY UPDATE: the seed app may still insert rows that point at these users.
        .with_for_update(key_share=True, of=User)
    )
    result = db.session.execute(
        sa.insert(TARGETS).from_select(["user_id", "tokens", "role", "reference"], source)
    )
    if _is_postgresql():
        # Temporary tables get no automatic statistics; without them a 100,000-row set is
        # planned as if it held a handful.
        db.session.execute(sa.text(f"ANALYZE pg_temp.{TARGETS.name}"))
    return result.rowcount or 0


def drop_targets_where(condition: sa.ColumnElement[bool]) -> int:
    """Remove targets matching ``condition`` (users to skip); return how many."""
    return db.session.execute(sa.delete(TARGETS).where(condition)).rowcount or 0


def target_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(TARGETS)) or 0


def target_ids() -> sa.Select[Any]:
    return sa.select(TARGETS.c.user_id)


def json_object(**pairs: Any) -> sa.ColumnElement[Any]:
    """A JSON object built by the database, one per row (values may be column expressions)."""
    function = sa.func.jsonb_build_object if _is_postgresql() else sa.func.json_object
    arguments: list[Any] = []
    for key, value in pairs.items():
        arguments.append(sa.literal_column(f"'{key}'"))
        if value is None:
            arguments.append(sa.null())
        elif isinstance(value, sa.ColumnElement) or hasattr(value, "__clause_element__"):
            arguments.append(value)
        else:
            arguments.append(sa.literal(value))
    return function(*arguments)


def audit_each_target(
    *,
    actor: Actor,
    action: str,
    reason: str | None,
    now: datetime,
    changes: sa.ColumnElement[Any] | None,
    details: sa.ColumnElement[Any] | None,
) -> int:
    """One audit row per target user (so each user's history shows the bulk action), in
    one statement. ``changes`` and ``details`` may refer to the columns of TARGETS."""
    source = sa.select(
        sa.literal(now, Timestamp),
        sa.literal(actor.label),
        sa.literal(actor.staff_id, sa.Text),
        sa.literal(action),
        sa.literal("User"),
        TARGETS.c.user_id,
        changes if changes is not None else sa.null(),
        details if details is not None else sa.null(),
        sa.literal(reason, sa.Text),
        sa.literal(actor.ip, sa.Text),
        sa.literal((actor.user_agent or "")[:500] or None, sa.Text),
    ).select_from(TARGETS)
    columns = [
        "created_at",
        "actor_label",
        "actor_staff_id",
        "action",
        "target_model",
        "target_id",
        "changes",
        "details",
        "reason",
        "ip",
        "user_agent",
    ]
    return db.session.execute(sa.insert(AuditLog).from_select(columns, source)).rowcount or 0
