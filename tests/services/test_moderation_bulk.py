"""Banning every user matching a filter: one set-based pass, skipping whom it must."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.extensions import db
from dashboard.models import (
    AuditLog,
    Session,
    StaffRole,
    User,
    UserModeration,
    UserRole,
    utcnow,
)
from dashboard.services.moderation.bans import users_expire_bans
from dashboard.services.moderation.bulk import users_ban_bulk
from tests.factories import make_session, make_staff, make_user, staff_actor

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SPAM = User.email.like("%@spam.test")


def roles() -> dict[str, str]:
    db.session.expire_all()
    return {u.email: u.role.value for u in db.session.scalars(sa.select(User))}


def count(model: type, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_bulk_ban_bans_the_filtered_set_and_ends_their_sessions(app):
    spammers = [
        make_user(email="a@spam.test", role=UserRole.PREMIUM),
        make_user(email="b@spam.test"),
        make_user(email="c@spam.test", role=UserRole.BANNED),  # already banned
    ]
    for user in spammers[:2]:
        make_session(user)
    make_session(spammers[0])
    honest = make_user(email="honest@example.com")
    make_session(honest)
    db.session.commit()

    result = users_ban_bulk(
        user_filter=SPAM, reason="spam wave", actor=Actor.system("test"), filter_label="spam"
    )

    assert (result.matched, result.banned, result.sessions_revoked) == (3, 2, 3)
    assert result.skipped_already_banned == 1 and result.skipped == 1
    assert roles() == {
        "a@spam.test": "BANNED",
        "b@spam.test": "BANNED",
        "c@spam.test": "BANNED",
        "honest@example.com": "USER",
    }
    assert count(Session) == 1  # the honest user's
    previous = {
        row.user_id: row.previous_role for row in db.session.scalars(sa.select(UserModeration))
    }
    assert previous == {spammers[0].id: UserRole.PREMIUM, spammers[1].id: UserRole.USER}
    per_user = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.target_id == spammers[0].id)
    ).one()
    assert (per_user.action, per_user.reason) == ("user.ban", "spam wave")
    assert per_user.changes == {"role": {"before": "PREMIUM", "after": "BANNED"}}
    assert per_user.details == {
        "sessions_revoked": 2,
        "banned_until": None,
        "bulk_audit_id": result.audit_id,
    }
    summary = db.session.get(AuditLog, result.audit_id)
    assert summary.action == "user.bulk_ban" and summary.details["filter"] == "spam"
    assert summary.details["banned"] == 2 and summary.details["sessions_revoked"] == 3


def test_support_bulk_ban_skips_itself_and_higher_staff(app):
    support = make_staff(StaffRole.SUPPORT, user=make_user(email="me@spam.test"))
    make_staff(StaffRole.ADMIN, user=make_user(email="boss@spam.test", role=UserRole.ADMIN))
    make_user(email="root@spam.test", role=UserRole.ADMIN)  # ADMIN without staff account
    make_staff(StaffRole.EDITOR, user=make_user(email="writer@spam.test"))
    make_user(email="bot@spam.test")
    db.session.commit()

    result = users_ban_bulk(user_filter=SPAM, reason="cleanup", actor=staff_actor(support))

    assert (result.matched, result.banned) == (5, 2)
    assert (result.skipped_self, result.skipped_protected) == (1, 2)
    assert roles() == {
        "me@spam.test": "USER",
        "boss@spam.test": "ADMIN",
        "root@spam.test": "ADMIN",
        "writer@spam.test": "BANNED",
        "bot@spam.test": "BANNED",
    }


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"reason": "  "}, BackofficeError, "A reason is required."),
        ({"actor": "editor"}, PermissionDenied, "Your role (EDITOR) may not use the ban tool."),
        ({"user_filter": None}, BackofficeError, "No users were selected."),
    ],
)
def test_refused_bulk_bans_write_nothing(app, arguments, error, message):
    user = make_user(email="x@spam.test")
    make_session(user)
    if arguments.get("actor") == "editor":
        arguments = {"actor": staff_actor(make_staff(StaffRole.EDITOR))}
    db.session.commit()
    values = {"user_filter": SPAM, "reason": "r", "actor": Actor.system("test")}

    with pytest.raises(error) as refused:
        users_ban_bulk(**{**values, **arguments})

    assert refused.value.message == message
    assert roles()["x@spam.test"] == "USER"
    assert (count(Session), count(AuditLog), count(UserModeration)) == (1, 0, 0)


def test_a_selection_matching_nobody_writes_nothing(app):
    make_user(email="x@example.com")
    db.session.commit()
    result = users_ban_bulk(user_filter=SPAM, reason="r", actor=Actor.system("test"))
    assert (result.matched, result.banned, result.audit_id) == (0, 0, None)
    assert count(AuditLog) == 0


def test_a_timed_bulk_ban_is_lifted_by_expire_bans(app):
    make_user(email="a@spam.test", role=UserRole.PREMIUM)
    make_user(email="b@spam.test")
    db.session.commit()
    until = utcnow() + timedelta(days=1)

    result = users_ban_bulk(user_filter=SPAM, reason="r", actor=Actor.system("t"), until=until)

    assert result.banned == 2
    assert {m.banned_until for m in db.session.scalars(sa.select(UserModeration))} == {
        until.replace(microsecond=until.microsecond // 1000 * 1000)
    }
    assert users_expire_bans(now=until + timedelta(seconds=1)) == 2
    assert roles() == {"a@spam.test": "USER", "b@spam.test": "USER"}  # no subscription now
