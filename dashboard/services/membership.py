"""How a user's subscriptions map to their role, membership status and plan.

The one rule (notes/stripe.md, property 14), used by the Stripe sync after every
subscription change and by unban:
- any subscription ``active`` or ``trialing``   -> PREMIUM, ACTIVE
- else any ``past_due`` or ``unpaid``           -> PREMIUM, PAST_DUE (grace period)
- else any ``canceled`` / ``incomplete_expired`` -> USER, CANCELED
- no subscription at all (or only others)       -> USER, INACTIVE
ADMIN and BANNED users are set by people and are never changed by this rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import MembershipStatus, User, UserRole, UserSubscription, utcnow
from dashboard.services.audit import audit_record, changes_between

LIVE_STATUSES = ("active", "trialing")
GRACE_STATUSES = ("past_due", "unpaid")
ENDED_STATUSES = ("canceled", "incomplete_expired")
PROTECTED_ROLES = (UserRole.ADMIN, UserRole.BANNED)


def derive_user_state(statuses: Iterable[str]) -> tuple[str, str]:
    """Role and membership status implied by a set of Stripe subscription statuses."""
    found = set(statuses)
    if found & set(LIVE_STATUSES):
        return UserRole.PREMIUM.value, MembershipStatus.ACTIVE.value
    if found & set(GRACE_STATUSES):
        return UserRole.PREMIUM.value, MembershipStatus.PAST_DUE.value
    if found & set(ENDED_STATUSES):
        return UserRole.USER.value, MembershipStatus.CANCELED.value
    return UserRole.USER.value, MembershipStatus.INACTIVE.value


@dataclass(frozen=True)
class MembershipState:
    role: UserRole
    membership_status: MembershipStatus
    stripe_product_id: str | None


def membership_state_for(user_id: str) -> MembershipState:
    """What the user's stored subscriptions say their role, status and plan should be
    (ignoring whether they are ADMIN or BANNED)."""
    rows = db.session.execute(
        sa.select(UserSubscription.status, UserSubscription.stripe_product_id)
        .where(UserSubscription.user_id == user_id)
        .order_by(UserSubscription.current_period_end.desc())
    ).all()
    return _state_from(rows)


def _state_from(rows: Sequence[Any]) -> MembershipState:
    """The state implied by (status, stripe_product_id) rows, newest period first."""
    role, status = derive_user_state(row.status for row in rows)
    product = None
    for wanted in (LIVE_STATUSES, GRACE_STATUSES):
        product = next((row.stripe_product_id for row in rows if row.status in wanted), None)
        if product:
            break
    return MembershipState(UserRole(role), MembershipStatus(status), product)


def membership_recompute_in_transaction(
    *, user_id: str, actor: Actor
) -> dict[str, dict[str, object]]:
    """``membership_recompute_many_in_transaction`` for one user: returns the changes
    (empty when nothing changed, or for an unknown, ADMIN or BANNED user)."""
    return _recompute([user_id], actor).get(user_id, {})


def membership_recompute_many_in_transaction(*, user_ids: Iterable[str], actor: Actor) -> int:
    """Apply ``membership_state_for`` to each user in the caller's transaction (no commit),
    in a constant number of statements (the Stripe resync's pages), and audit what changed.
    ADMIN and BANNED users are left untouched; users are locked in id order. Returns how
    many users changed."""
    return len(_recompute(user_ids, actor))


def _recompute(user_ids: Iterable[str], actor: Actor) -> dict[str, dict[str, dict[str, object]]]:
    """The changes made, by user id (users that did not change are absent)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    users = db.session.execute(
        sa.select(User.id, User.role, User.membership_status, User.stripe_product_id)
        .where(User.id.in_(ids))
        .order_by(User.id)
        .with_for_update()
    ).all()
    subscriptions: dict[str, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        sa.select(
            UserSubscription.user_id, UserSubscription.status, UserSubscription.stripe_product_id
        )
        .where(UserSubscription.user_id.in_(ids))
        .order_by(UserSubscription.current_period_end.desc())
    ):
        subscriptions[row.user_id].append(row)
    changed: dict[str, dict[str, dict[str, object]]] = {}
    updates = []
    for user in users:
        if user.role in PROTECTED_ROLES:
            continue
        state = _state_from(subscriptions[user.id])
        before = {
            "role": user.role,
            "membershipStatus": user.membership_status,
            "stripeProductId": user.stripe_product_id,
        }
        after = {
            "role": state.role,
            "membershipStatus": state.membership_status,
            "stripeProductId": state.stripe_product_id,
        }
        changes = changes_between(before, after)
        if not changes:
            continue
        changed[user.id] = changes
        updates.append(
            {
                "uid": user.id,
                "role": state.role,
                "status": state.membership_status,
                "product": state.stripe_product_id,
            }
        )
        audit_record(
            actor=actor,
            action="user.membership_recompute",
            target_model="User",
            target_id=user.id,
            changes=changes,
        )
    if updates:
        table = User.__table__
        db.session.execute(
            table.update()
            .where(table.c.id == sa.bindparam("uid"))
            .values(
                role=sa.bindparam("role"),
                membershipStatus=sa.bindparam("status"),
                stripeProductId=sa.bindparam("product"),
                updatedAt=utcnow(),
            ),
            updates,
        )
        # The UPDATE went around the ORM: a User the session holds must reload what changed.
        for user_id in changed:
            loaded = db.session.identity_map.get(identity_key(User, user_id))
            if loaded is not None:
                db.session.expire(loaded)
        db.session.flush()
    return changed
