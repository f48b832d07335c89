"""`flask users ...`: ban, unban, sign-out, expire-bans."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog, Session, User, UserModeration, UserRole, utcnow
from dashboard.services.user_lookup import ERR_AMBIGUOUS
from tests.factories import make_session, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def customer(email: str = "bob@example.com", **values) -> User:
    made = make_user(email=email, **values)
    make_session(made)
    db.session.commit()
    return made


def state(user_id: str) -> tuple[str, int, int]:
    """(role, sessions, audit rows)."""
    db.session.expire_all()
    return (
        db.session.scalar(sa.select(User.role).where(User.id == user_id)).value,
        db.session.scalar(sa.select(sa.func.count()).where(Session.user_id == user_id)),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)),
    )


def test_ban_then_unban_from_the_command_line(runner):
    bob = customer(role=UserRole.PREMIUM)
    until = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%d")

    banned = runner.invoke(
        args=["users", "ban", "bob@example.com", "--reason", "spam", "--until", until]
    )
    again = runner.invoke(args=["users", "ban", "bob@example.com", "--reason", "spam"])

    assert banned.exit_code == 0, banned.output
    assert banned.output == (
        f"bob@example.com is banned until {until} 00:00 UTC and was signed out of 1 session(s).\n"
    )
    assert (again.exit_code, again.output) == (
        0,
        "bob@example.com is already banned; nothing changed.\n",
    )
    assert state(bob.id) == ("BANNED", 0, 1)

    unbanned = runner.invoke(args=["users", "unban", "bob@example.com", "--reason", "appeal"])
    assert unbanned.output == "bob@example.com is unbanned; their role is now USER.\n"
    not_banned = runner.invoke(args=["users", "unban", "bob@example.com", "--reason", "appeal"])
    assert not_banned.output == "bob@example.com is not banned; nothing changed.\n"
    assert state(bob.id) == ("USER", 0, 2)


def test_sign_out_ends_sessions_without_banning(runner):
    bob = customer()
    result = runner.invoke(
        args=["users", "sign-out", "bob@example.com", "--reason", "stolen phone"]
    )
    assert (result.exit_code, result.output) == (
        0,
        "bob@example.com was signed out of 1 session(s).\n",
    )
    assert state(bob.id) == ("USER", 0, 1)


def test_expire_bans_lifts_ended_bans(runner):
    bob = customer()
    runner.invoke(args=["users", "ban", "bob@example.com", "--reason", "cool off"])
    db.session.execute(
        sa.update(UserModeration).values(banned_until=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()

    first = runner.invoke(args=["users", "expire-bans"])
    second = runner.invoke(args=["users", "expire-bans"])

    assert first.output == "Unbanned 1 user(s) whose ban had ended.\n"
    assert second.output == "Unbanned 0 user(s) whose ban had ended.\n"
    assert state(bob.id)[0] == "USER"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ban", "nobody@example.com", "--reason", "r"], "No user with email nobody@example.com."),
        (["ban", "bob@example.com"], "Missing option '--reason'"),
        (["ban", "bob@example.com", "--reason", " "], "A reason is required."),
        (["ban", "bob@example.com", "--reason", "r", "--until", "2001-01-01"], "in the future"),
        (["ban", "bob@example.com", "--reason", "r", "--until", "soon"], "'soon' does not match"),
        (["unban", "bob@example.com", "--reason", ""], "A reason is required."),
        (["sign-out", "bob@example.com"], "Missing option '--reason'"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(runner, args, message):
    bob = customer()

    result = runner.invoke(args=["users", *args])

    assert result.exit_code != 0
    assert message in result.output
    assert state(bob.id) == ("USER", 1, 0)


def test_the_user_is_found_by_the_lookup_rule_of_the_pages(runner):
    bob = customer(email="Bob@Example.com")
    signed_out = runner.invoke(args=["users", "sign-out", " bob@example.COM ", "--reason", "r"])
    assert signed_out.exit_code == 0, signed_out.output
    assert state(bob.id)[1] == 0

    customer(email="bob@example.com")
    ambiguous = runner.invoke(args=["users", "ban", "BOB@EXAMPLE.COM", "--reason", "r"])
    assert ambiguous.exit_code == 1
    assert ERR_AMBIGUOUS.format(query="BOB@EXAMPLE.COM") in ambiguous.output
