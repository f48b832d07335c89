"""Banning, unbanning and signing users out everywhere.

Rules:
- A reason is required; every change is audited with it, in the change's transaction.
- Ban: ``role = BANNED``; a ``bo_user_moderation`` row remembers the role it replaced, when,
  by whom, why and until when; all of the user's NextAuth ``Session`` rows are deleted (the
  seed app uses database sessions, so this signs them out everywhere) and, if they are
  staff, their Backoffice sessions end too (``session_version`` is bumped).
- Unban: the role the user should have NOW, by ``membership_state_for`` (PREMIUM with a
  live subscription, USER otherwise; membership status and plan from the same rule), never
  blindly the old one. Exception: a user who was ADMIN before the ban gets ADMIN back, since
  ADMIN is given by people and no subscription rule grants or removes it (and only an ADMIN
  or the system may unban them, by the next rule).
- Who: staff need the ``ban`` tool (ban, unban) or ``revoke_sessions`` (sign out). Nobody
  bans or unbans themselves. Nobody acts on a staff member of higher rank
  (``STAFF_ROLE_RANK``; the ``bo_staff`` role decides, an ADMIN user without a staff account
  counts as ADMIN, and so does a banned user who was ADMIN). The system may do anything.
- Banning a banned user or unbanning an unbanned one changes nothing and says so
  (``changed=False``); it is not an error and writes no audit row.
- ``users_expire_bans`` unbans everyone whose ``banned_until`` has passed, by the unban rule.

Bans of "every user matching a filter" are in ``dashboard.services.moderation.bulk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import (
    STAFF_ROLE_RANK,
    Session,
    StaffAccount,
    StaffRole,
    User,
    UserModeration,
    UserRole,
    utcnow,
)
from dashboard.permissions import Tool, require_tool
from dashboard.services.audit import audit_record, changes_between
from dashboard.services.membership import membership_state_for
from dashboard.services.users import ERR_USER as ERR_USER  # doors format it for a bad id
from dashboard.services.users import user_lock

ERR_REASON = "A reason is required."
ERR_SELF = "You cannot {verb} yourself."
ERR_HIGHER = "{email} is staff with a higher role ({role}) than yours; ask an administrator."
ERR_UNTIL_PAST = "The end of the ban must be in the future."

MSG_BANNED = "{email} is banned{until} and was signed out of {sessions} session(s)."
MSG_ALREADY_BANNED = "{email} is already banned; nothing changed."
MSG_UNBANNED = "{email} is unbanned; their role is now {role}."
MSG_NOT_BANNED = "{email} is not banned; nothing changed."
MSG_SIGNED_OUT = "{email} was signed out of {sessions} session(s)."
REASON_EXPIRED = "The ban ended on {until:%Y-%m-%d %H:%M} UTC."


@dataclass(frozen=True)
class ModerationResult:
    user_id: str
    email: str
    changed: bool  # False for a no-op (already banned / not banned)
    message: str  # what staff are told, ready to flash or print
    role_before: UserRole
    role_after: UserRole
    sessions_revoked: int = 0


def require_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BackofficeError(ERR_REASON)
    return reason


def validate_until(until: datetime | None) -> datetime | None:
    """The end of a ban as naive UTC; raises BackofficeError unless it is in the future."""
    if until is None:
        return None
    if until.tzinfo is not None:
        until = until.astimezone(UTC).replace(tzinfo=None)
    if until <= utcnow():
        raise BackofficeError(ERR_UNTIL_PAST)
    return until


def actor_rank(actor: Actor) -> int:
    """The rank of a staff actor (call after ``require_tool``, which vouches for the role)."""
    return STAFF_ROLE_RANK[StaffRole(actor.role)]


def _staff_rank(user: User, previous_role: UserRole | None) -> tuple[int, str]:
    """(rank, role name) of the user as staff; (0, "") for a customer."""
    staff_role = db.session.scalar(
        sa.select(StaffAccount.role).where(StaffAccount.user_id == user.id)
    )
    if staff_role is not None:
        return STAFF_ROLE_RANK[StaffRole(staff_role)], StaffRole(staff_role).value
    if UserRole.ADMIN in (user.role, previous_role):
        return STAFF_ROLE_RANK[StaffRole.ADMIN], StaffRole.ADMIN.value
    return 0, ""


def _check_may_act(
    actor: Actor, user: User, *, verb: str | None, previous_role: UserRole | None = None
) -> None:
    """Refuse acting on oneself (when ``verb`` is given) or on higher-ranked staff."""
    if verb and actor.user_id is not None and actor.user_id == user.id:
        raise PermissionDenied(ERR_SELF.format(verb=verb))
    if actor.is_system:
        return
    rank, role = _staff_rank(user, previous_role)
    if rank > actor_rank(actor):
        raise PermissionDenied(ERR_HIGHER.format(email=user.email, role=role))


def sessions_revoke_in_transaction(user_ids: sa.Select[Any] | list[str]) -> int:
    """Delete the users' NextAuth sessions and end their Backoffice staff sessions, in the
    caller's transaction; return how many NextAuth sessions were deleted."""
    deleted = db.session.execute(
        sa.delete(Session)
        .where(Session.user_id.in_(user_ids))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        sa.update(StaffAccount)
        .where(StaffAccount.user_id.in_(user_ids))
        .values(session_version=StaffAccount.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    return deleted or 0


def _ban_locked(user: User, *, reason: str, actor: Actor, until: datetime | None) -> int:
    moderation = db.session.get(UserModeration, user.id)
    if moderation is None:  # a stale row can remain if someone changed the role by hand
        moderation = UserModeration(user_id=user.id)
        db.session.add(moderation)
    moderation.previous_role = user.role
    moderation.banned_at = utcnow()
    moderation.banned_until = until
    moderation.banned_by_label = actor.label
    moderation.reason = reason
    sessions = sessions_revoke_in_transaction([user.id])
    before = user.role
    user.role = UserRole.BANNED
    audit_record(
        actor=actor,
        action="user.ban",
        target_model="User",
        target_id=user.id,
        changes={"role": {"before": before.value, "after": UserRole.BANNED.value}},
        details={
            "sessions_revoked": sessions,
            "banned_until": until.isoformat() if until else None,
        },
        reason=reason,
    )
    db.session.flush()
    return sessions


def user_ban(
    *,
    user_id: str,
    reason: str,
    actor: Actor,
    until: datetime | None = None,
) -> ModerationResult:
    """Ban a user (optionally until a future date) and sign them out everywhere.

    Raises BackofficeError for a missing reason or a past ``until``, PermissionDenied for a
    staff role without ``ban``, for oneself, or for higher-ranked staff, NotFound for an
    unknown user; nothing is written then. A banned user gives ``changed=False``.
    """
    reason = require_reason(reason)
    until = validate_until(until)
    require_tool(actor, Tool.BAN)
    with unit_of_work():
        user = user_lock(user_id)
        _check_may_act(actor, user, verb="ban")
        if user.role == UserRole.BANNED:
            message = MSG_ALREADY_BANNED.format(email=user.email)
            return ModerationResult(user.id, user.email, False, message, user.role, user.role)
        before = user.role
        sessions = _ban_locked(user, reason=reason, actor=actor, until=until)
        shown_until = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        message = MSG_BANNED.format(email=user.email, until=shown_until, sessions=sessions)
        return ModerationResult(
            user.id, user.email, True, message, before, UserRole.BANNED, sessions
        )


def _unban_locked(
    user: User, moderation: UserModeration | None, *, reason: str, actor: Actor
) -> None:
    state = membership_state_for(user.id)
    was_admin = moderation is not None and moderation.previous_role == UserRole.ADMIN
    before = {
        "role": user.role,
        "membershipStatus": user.membership_status,
        "stripeProductId": user.stripe_product_id,
    }
    user.role = UserRole.ADMIN if was_admin else state.role
    user.membership_status = state.membership_status
    user.stripe_product_id = state.stripe_product_id
    after = {
        "role": user.role,
        "membershipStatus": user.membership_status,
        "stripeProductId": user.stripe_product_id,
    }
    details: dict[str, object] = {"previous_role": None}
    if moderation is not None:
        details = {
            "previous_role": moderation.previous_role.value,
            "banned_at": moderation.banned_at.isoformat(),
            "banned_until": moderation.banned_until.isoformat()
            if moderation.banned_until
            else None,
            "banned_by": moderation.banned_by_label,
            "ban_reason": moderation.reason,
        }
        db.session.delete(moderation)
    audit_record(
        actor=actor,
        action="user.unban",
        target_model="User",
        target_id=user.id,
        changes=changes_between(before, after),
        details=details,
        reason=reason,
    )
    db.session.flush()


def user_unban(*, user_id: str, reason: str, actor: Actor) -> ModerationResult:
    """Lift a ban: the user gets the role their subscriptions give them now (ADMIN back if
    they were ADMIN before the ban), with membership status and plan by the same rule.

    Errors as ``user_ban``. A user who is not banned gives ``changed=False``.
    """
    reason = require_reason(reason)
    require_tool(actor, Tool.BAN)
    with unit_of_work():
        user = user_lock(user_id)
        moderation = db.session.get(UserModeration, user.id, populate_existing=True)
        previous = moderation.previous_role if moderation else None
        _check_may_act(actor, user, verb="unban", previous_role=previous)
        if user.role != UserRole.BANNED:
            message = MSG_NOT_BANNED.format(email=user.email)
            return ModerationResult(user.id, user.email, False, message, user.role, user.role)
        _unban_locked(user, moderation, reason=reason, actor=actor)
        message = MSG_UNBANNED.format(email=user.email, role=user.role.value)
        return ModerationResult(user.id, user.email, True, message, UserRole.BANNED, user.role)


def user_sign_out_everywhere(*, user_id: str, reason: str, actor: Actor) -> ModerationResult:
    """End all of a user's sessions (NextAuth database sessions, and Backoffice sessions if
    they are staff) without banning them. Always audited, even when there was no session.

    Raises BackofficeError for a missing reason, PermissionDenied for a staff role without
    ``revoke_sessions`` or for higher-ranked staff, NotFound for an unknown user.
    """
    reason = require_reason(reason)
    require_tool(actor, Tool.REVOKE_SESSIONS)
    with unit_of_work():
        user = user_lock(user_id)
        _check_may_act(actor, user, verb=None)
        sessions = sessions_revoke_in_transaction([user.id])
        audit_record(
            actor=actor,
            action="user.sign_out_everywhere",
            target_model="User",
            target_id=user.id,
            details={"sessions_revoked": sessions},
            reason=reason,
        )
        message = MSG_SIGNED_OUT.format(email=user.email, sessions=sessions)
        return ModerationResult(
            user.id, user.email, sessions > 0, message, user.role, user.role, sessions
        )


def users_expire_bans(*, now: datetime | None = None, actor: Actor | None = None) -> int:
    """Unban (by the unban rule) every banned user whose ``banned_until`` is at or before
    ``now`` (default: the current time); each in its own transaction. Returns how many.
    Running it again finds nobody left to unban."""
    now = now or utcnow()
    actor = actor or Actor.system("ban-expiry")
    due = (
        sa.select(UserModeration.user_id)
        .join(User, User.id == UserModeration.user_id)
        .where(UserModeration.banned_until <= now, User.role == UserRole.BANNED)
        .order_by(UserModeration.user_id)
    )
    unbanned = 0
    for user_id in db.session.scalars(due).all():
        with unit_of_work():
            user = user_lock(user_id)
            moderation = db.session.get(UserModeration, user_id, populate_existing=True)
            # Re-checked under the lock: someone may have unbanned or re-banned meanwhile.
            still_due = (
                moderation is not None
                and moderation.banned_until is not None
                and moderation.banned_until <= now
                and user.role == UserRole.BANNED
            )
            if still_due:
                reason = REASON_EXPIRED.format(until=moderation.banned_until)
                _unban_locked(user, moderation, reason=reason, actor=actor)
                unbanned += 1
    return unbanned
