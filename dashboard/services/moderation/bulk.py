"""Banning every user matching a filter ("select all N matching"), set-based.

The rules of ``dashboard.services.moderation.bans`` hold for each user; where a user may not be
banned the bulk ban SKIPS them and counts why, instead of refusing the whole selection:
already banned (``skipped_already_banned``), the acting staff member themselves
(``skipped_self``), staff of a higher rank than the actor (``skipped_protected``).

Whatever the number of users, it runs a fixed handful of statements (see
``dashboard.services.bulk``): lock the eligible users, replace their moderation rows, count
and delete their sessions, set their role, end their staff sessions, and write one audit row
per user plus one summary row (``user.bulk_ban``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import (
    STAFF_ROLE_RANK,
    Session,
    StaffAccount,
    User,
    UserModeration,
    UserRole,
    utcnow,
)
from dashboard.models.base import Timestamp
from dashboard.permissions import Tool, require_tool
from dashboard.services import bulk
from dashboard.services.audit import audit_record
from dashboard.services.moderation.bans import (
    actor_rank,
    require_reason,
    sessions_revoke_in_transaction,
    validate_until,
)


@dataclass(frozen=True)
class BulkBanResult:
    matched: int  # users the filter matched
    banned: int
    sessions_revoked: int
    skipped_already_banned: int = 0
    skipped_self: int = 0
    skipped_protected: int = 0
    audit_id: int | None = None  # the summary audit row

    @property
    def skipped(self) -> int:
        return self.skipped_already_banned + self.skipped_self + self.skipped_protected


def _protected(actor: Actor) -> sa.ColumnElement[bool] | None:
    """Users ranked above ``actor`` (None when nobody is)."""
    if actor.is_system:
        return None
    higher = [role.value for role, rank in STAFF_ROLE_RANK.items() if rank > actor_rank(actor)]
    if not higher:
        return None
    is_staff = sa.exists().where(StaffAccount.user_id == User.id)
    clause = sa.exists().where(StaffAccount.user_id == User.id, StaffAccount.role.in_(higher))
    if "ADMIN" in higher:  # an ADMIN user without a staff account counts as ADMIN
        clause = sa.or_(clause, sa.and_(User.role == UserRole.ADMIN, ~is_staff))
    return clause


def _count_matching(where: sa.ColumnElement[bool], actor: Actor) -> dict[str, int]:
    banned = User.role == UserRole.BANNED
    is_self = User.id == actor.user_id if actor.user_id else sa.false()
    protected = _protected(actor)
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(banned),
            sa.func.count().filter(sa.and_(~banned, is_self)),
            sa.func.count().filter(
                sa.and_(~banned, ~is_self, protected) if protected is not None else sa.false()
            ),
        ).where(where)
    ).one()
    return {
        "matched": row[0],
        "skipped_already_banned": row[1],
        "skipped_self": row[2],
        "skipped_protected": row[3],
    }


def _count_target_sessions() -> int:
    """Note each target's number of NextAuth sessions (for their audit row); the total."""
    targets = bulk.TARGETS
    per_user = (
        sa.select(Session.user_id.label("user_id"), sa.func.count().label("n"))
        .where(Session.user_id.in_(bulk.target_ids()))
        .group_by(Session.user_id)
        .subquery()
    )
    db.session.execute(
        sa.update(targets)
        .where(targets.c.user_id == per_user.c.user_id)
        .values(sessions=per_user.c.n)
    )
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(targets.c.sessions), 0)))


def _ban_targets(*, reason: str, actor: Actor, until: datetime | None, now: datetime) -> int:
    """Ban every user in the target table; return the NextAuth sessions deleted."""
    targets = bulk.TARGETS
    ids = bulk.target_ids()
    db.session.execute(sa.delete(UserModeration).where(UserModeration.user_id.in_(ids)))
    source = sa.select(
        targets.c.user_id,
        targets.c.role,
        sa.literal(now, Timestamp),
        sa.literal(until, Timestamp),
        sa.literal(actor.label),
        sa.literal(reason),
    )
    columns = ["user_id", "previous_role", "banned_at", "banned_until", "banned_by_label"]
    db.session.execute(sa.insert(UserModeration).from_select([*columns, "reason"], source))
    sessions = sessions_revoke_in_transaction(ids)
    db.session.execute(
        sa.update(User)
        .where(User.id.in_(ids))
        .values(role=UserRole.BANNED)
        .execution_options(synchronize_session=False)
    )
    return sessions


def users_ban_bulk(
    *,
    user_filter: bulk.UserFilter,
    reason: str,
    actor: Actor,
    until: datetime | None = None,
    filter_label: str | None = None,
) -> BulkBanResult:
    """Ban every user matching ``user_filter`` (a where-clause over User, a SELECT of User
    ids, or a list of ids) and sign them out everywhere; skip (and count) those who may not
    be banned. ``filter_label`` describes the selection in the audit trail.

    Raises BackofficeError for a missing reason or a past ``until``, PermissionDenied for a
    staff role without ``ban``; nothing is written then.
    """
    reason = require_reason(reason)
    until = validate_until(until)
    require_tool(actor, Tool.BAN)
    where = bulk.users_where(user_filter)
    eligible = sa.and_(where, User.role != UserRole.BANNED)
    if actor.user_id:
        eligible = sa.and_(eligible, User.id != actor.user_id)
    protected = _protected(actor)
    if protected is not None:
        eligible = sa.and_(eligible, ~protected)
    now = utcnow()
    with unit_of_work():
        counts = _count_matching(where, actor)
        sessions, audit_id = 0, None
        with bulk.target_set() as targets:
            banned = bulk.fill_targets(eligible)
            if counts["matched"] or banned:
                summary = audit_record(
                    actor=actor,
                    action="user.bulk_ban",
                    target_model="User",
                    details={
                        **counts,
                        "banned": banned,
                        "sessions_revoked": _count_target_sessions() if banned else 0,
                        "filter": filter_label,
                        "banned_until": until.isoformat() if until else None,
                    },
                    reason=reason,
                )
                db.session.flush()
                audit_id = summary.id
            if banned:
                sessions = _ban_targets(reason=reason, actor=actor, until=until, now=now)
                bulk.audit_each_target(
                    actor=actor,
                    action="user.ban",
                    reason=reason,
                    now=now,
                    changes=bulk.json_object(
                        role=bulk.json_object(before=targets.c.role, after=UserRole.BANNED.value)
                    ),
                    details=bulk.json_object(
                        sessions_revoked=sa.func.coalesce(targets.c.sessions, 0),
                        banned_until=until.isoformat() if until else None,
                        bulk_audit_id=audit_id,
                    ),
                )
    return BulkBanResult(banned=banned, sessions_revoked=sessions, audit_id=audit_id, **counts)
