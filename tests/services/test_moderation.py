"""Ban, unban and sign out everywhere: sessions really end, the role comes back right, and
only those allowed may act."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound, PermissionDenied
from dashboard.extensions import db
from dashboard.models import (
    AuditLog,
    MembershipStatus,
    Session,
    StaffAccount,
    StaffRole,
    User,
    UserModeration,
    UserRole,
    utcnow,
)
from dashboard.services.moderation.bans import (
    ERR_HIGHER,
    ERR_REASON,
    ERR_SELF,
    ERR_UNTIL_PAST,
    MSG_ALREADY_BANNED,
    MSG_NOT_BANNED,
    user_ban,
    user_sign_out_everywhere,
    user_unban,
    users_expire_bans,
)
from tests.factories import (
    make_price,
    make_session,
    make_staff,
    make_subscription,
    make_user,
    staff_actor,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("test")


def sessions_of(user_id: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Session).where(Session.user_id == user_id)
    )


def audit_actions(user_id: str) -> list[tuple[str, str | None]]:
    rows = db.session.execute(
        sa.select(AuditLog.action, AuditLog.reason)
        .where(AuditLog.target_id == user_id)
        .order_by(AuditLog.id)
    )
    return [tuple(row) for row in rows]


def fresh(user_id: str) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def saved(row):
    db.session.commit()  # a service's rollback must not take the test's own rows with it
    return row


def test_ban_signs_the_user_out_everywhere_and_remembers_the_role(app):
    user = make_user(email="spammer@example.com", role=UserRole.PREMIUM)
    make_session(user)
    make_session(user)
    bystander = make_user()
    make_session(bystander)
    saved(user)

    result = user_ban(user_id=user.id, reason="spam", actor=SYSTEM)

    assert result.changed and result.sessions_revoked == 2
    assert result.message == "spammer@example.com is banned and was signed out of 2 session(s)."
    assert (result.role_before, result.role_after) == (UserRole.PREMIUM, UserRole.BANNED)
    assert fresh(user.id).role == UserRole.BANNED
    assert (sessions_of(user.id), sessions_of(bystander.id)) == (0, 1)
    moderation = db.session.get(UserModeration, user.id)
    assert (moderation.previous_role, moderation.reason) == (UserRole.PREMIUM, "spam")
    assert (moderation.banned_by_label, moderation.banned_until) == ("test", None)
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.target_id == user.id)).one()
    assert (audit.action, audit.reason) == ("user.ban", "spam")
    assert audit.changes == {"role": {"before": "PREMIUM", "after": "BANNED"}}
    assert audit.details == {"sessions_revoked": 2, "banned_until": None}


def test_a_ban_can_end_on_a_date_which_must_be_in_the_future(app):
    user = saved(make_user())
    until = (utcnow() + timedelta(days=7)).replace(microsecond=0)

    with pytest.raises(BackofficeError) as refused:
        user_ban(user_id=user.id, reason="r", actor=SYSTEM, until=utcnow() - timedelta(1))
    assert refused.value.message == ERR_UNTIL_PAST
    assert fresh(user.id).role == UserRole.USER

    result = user_ban(user_id=user.id, reason="cool off", actor=SYSTEM, until=until)
    assert f"banned until {until:%Y-%m-%d %H:%M} UTC" in result.message
    assert db.session.get(UserModeration, user.id).banned_until == until


def test_banning_a_banned_user_is_a_clear_no_op(app):
    user = saved(make_user(email="again@example.com"))
    user_ban(user_id=user.id, reason="first", actor=SYSTEM)

    result = user_ban(user_id=user.id, reason="second", actor=SYSTEM)

    assert not result.changed
    assert result.message == MSG_ALREADY_BANNED.format(email="again@example.com")
    assert audit_actions(user.id) == [("user.ban", "first")]
    assert db.session.get(UserModeration, user.id).reason == "first"


def test_unban_gives_the_role_subscriptions_give_now_not_the_old_one(app):
    price = make_price()
    lapsed = make_user(role=UserRole.PREMIUM)
    lapsed_sub = make_subscription(lapsed, price)
    joined = make_user(role=UserRole.USER, membership_status=MembershipStatus.INACTIVE)
    saved(joined)
    for user in (lapsed, joined):
        user_ban(user_id=user.id, reason="fraud check", actor=SYSTEM)
    # While banned, one subscription ended and another began.
    lapsed_sub.status = "canceled"
    make_subscription(joined, price)
    db.session.commit()

    unbanned = user_unban(user_id=lapsed.id, reason="cleared", actor=SYSTEM)
    user_unban(user_id=joined.id, reason="cleared", actor=SYSTEM)

    assert unbanned.message.endswith("their role is now USER.")
    lapsed, joined = fresh(lapsed.id), fresh(joined.id)
    assert (lapsed.role, lapsed.membership_status) == (UserRole.USER, MembershipStatus.CANCELED)
    assert lapsed.stripe_product_id is None
    assert (joined.role, joined.membership_status) == (UserRole.PREMIUM, MembershipStatus.ACTIVE)
    assert joined.stripe_product_id == price.product_id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserModeration)) == 0
    audit = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.target_id == joined.id, AuditLog.action == "user.unban")
    ).one()
    assert audit.reason == "cleared"
    assert audit.changes["role"] == {"before": "BANNED", "after": "PREMIUM"}
    assert audit.details["previous_role"] == "USER" and audit.details["ban_reason"] == "fraud check"


def test_an_admin_gets_admin_back_and_a_user_banned_before_backoffice_is_recomputed(app):
    admin = make_user(role=UserRole.ADMIN)
    legacy = make_user(role=UserRole.BANNED)  # banned by the seed app: no moderation row
    saved(admin)
    user_ban(user_id=admin.id, reason="compromised account", actor=SYSTEM)

    user_unban(user_id=admin.id, reason="password reset", actor=SYSTEM)
    result = user_unban(user_id=legacy.id, reason="appeal", actor=SYSTEM)

    assert fresh(admin.id).role == UserRole.ADMIN
    assert result.changed and fresh(legacy.id).role == UserRole.USER


def test_unbanning_a_user_who_is_not_banned_is_a_clear_no_op(app):
    user = saved(make_user(email="free@example.com", role=UserRole.PREMIUM))

    result = user_unban(user_id=user.id, reason="just in case", actor=SYSTEM)

    assert not result.changed
    assert result.message == MSG_NOT_BANNED.format(email="free@example.com")
    assert fresh(user.id).role == UserRole.PREMIUM and audit_actions(user.id) == []


def _target(kind: str) -> User:
    """A user of the given kind: customer, ADMIN user, or staff of a role."""
    if kind in ("USER", "PREMIUM", "ADMIN"):
        return make_user(role=UserRole(kind))
    return make_staff(StaffRole(kind.removeprefix("staff:"))).user


@pytest.mark.parametrize(
    ("actor_role", "target", "outcome"),
    [
        ("SUPPORT", "USER", "ok"),
        ("SUPPORT", "PREMIUM", "ok"),
        ("SUPPORT", "staff:SUPPORT", "ok"),
        ("SUPPORT", "staff:EDITOR", "ok"),
        ("SUPPORT", "ADMIN", "higher"),
        ("SUPPORT", "staff:ADMIN", "higher"),
        ("EDITOR", "USER", "tool"),
        ("ADMIN", "staff:ADMIN", "ok"),
        ("ADMIN", "ADMIN", "ok"),
    ],
)
def test_who_may_ban_whom(app, actor_role, target, outcome):
    actor = staff_actor(make_staff(StaffRole(actor_role)))
    user = _target(target)
    make_session(user)
    role_before = user.role
    saved(user)

    if outcome == "ok":
        assert user_ban(user_id=user.id, reason="abuse", actor=actor).changed
        assert fresh(user.id).role == UserRole.BANNED
        assert db.session.scalars(sa.select(AuditLog.actor_staff_id)).all() == [actor.staff_id]
        return
    with pytest.raises(PermissionDenied) as refused:
        user_ban(user_id=user.id, reason="abuse", actor=actor)
    if outcome == "higher":
        assert refused.value.message == ERR_HIGHER.format(email=user.email, role="ADMIN")
    else:
        assert refused.value.message == "Your role (EDITOR) may not use the ban tool."
    assert fresh(user.id).role == role_before and sessions_of(user.id) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_nobody_bans_or_unbans_themselves(app):
    staff = make_staff(StaffRole.ADMIN)
    actor = staff_actor(staff)
    saved(staff)
    for service, verb in ((user_ban, "ban"), (user_unban, "unban")):
        with pytest.raises(PermissionDenied) as refused:
            service(user_id=staff.user_id, reason="test", actor=actor)
        assert refused.value.message == ERR_SELF.format(verb=verb)
    assert fresh(staff.user_id).role == UserRole.ADMIN


def test_support_cannot_unban_a_former_admin(app):
    admin = saved(make_user(role=UserRole.ADMIN))
    user_ban(user_id=admin.id, reason="compromised", actor=SYSTEM)
    support = staff_actor(saved(make_staff(StaffRole.SUPPORT)))

    with pytest.raises(PermissionDenied):
        user_unban(user_id=admin.id, reason="looks fine", actor=support)
    assert fresh(admin.id).role == UserRole.BANNED


@pytest.mark.parametrize("service", [user_ban, user_unban, user_sign_out_everywhere])
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_every_action_needs_a_reason(app, service, reason):
    user = make_user()
    make_session(user)
    saved(user)

    with pytest.raises(BackofficeError) as refused:
        service(user_id=user.id, reason=reason, actor=SYSTEM)

    assert refused.value.message == ERR_REASON
    assert (fresh(user.id).role, sessions_of(user.id), audit_actions(user.id)) == (
        UserRole.USER,
        1,
        [],
    )


@pytest.mark.parametrize("service", [user_ban, user_unban, user_sign_out_everywhere])
def test_an_unknown_user_is_not_found(app, service):
    with pytest.raises(NotFound):
        service(user_id="nobody", reason="r", actor=SYSTEM)


def test_sign_out_everywhere_ends_sessions_without_banning(app):
    staff = make_staff(StaffRole.EDITOR)
    make_session(staff.user)
    make_session(staff.user)
    version = staff.session_version
    support = staff_actor(make_staff(StaffRole.SUPPORT))
    saved(staff)

    result = user_sign_out_everywhere(user_id=staff.user_id, reason="lost laptop", actor=support)

    assert result.changed and result.sessions_revoked == 2
    assert result.message == f"{staff.user.email} was signed out of 2 session(s)."
    assert sessions_of(staff.user_id) == 0 and fresh(staff.user_id).role == UserRole.USER
    # Their Backoffice sessions end too.
    db.session.expire_all()
    assert db.session.get(StaffAccount, staff.id).session_version == version + 1
    assert audit_actions(staff.user_id) == [("user.sign_out_everywhere", "lost laptop")]
    editor = staff_actor(saved(make_staff(StaffRole.EDITOR)))
    with pytest.raises(PermissionDenied):
        user_sign_out_everywhere(user_id=staff.user_id, reason="x", actor=editor)


def test_expired_bans_are_lifted_once(app):
    now = utcnow()
    ending = make_user(role=UserRole.PREMIUM)
    lasting = make_user()
    forever = make_user()
    saved(forever)
    user_ban(user_id=ending.id, reason="a", actor=SYSTEM, until=now + timedelta(days=1))
    user_ban(user_id=lasting.id, reason="b", actor=SYSTEM, until=now + timedelta(days=30))
    user_ban(user_id=forever.id, reason="c", actor=SYSTEM)

    assert users_expire_bans(now=now + timedelta(days=2)) == 1
    assert users_expire_bans(now=now + timedelta(days=2)) == 0

    assert [fresh(u.id).role for u in (ending, lasting, forever)] == [
        UserRole.USER,  # no live subscription now
        UserRole.BANNED,
        UserRole.BANNED,
    ]
    reason = db.session.scalar(
        sa.select(AuditLog.reason).where(
            AuditLog.target_id == ending.id, AuditLog.action == "user.unban"
        )
    )
    assert reason.startswith("The ban ended on ")
    assert isinstance(db.session.get(UserModeration, lasting.id).banned_until, datetime)
