"""The rule for an administrator's hand edit of a user's role."""

from __future__ import annotations

import re

import pytest

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.models import UserRole
from dashboard.services import user_roles

ADMIN = Actor(label="staff:a@example.com", staff_id="s1", user_id="u-admin", role="ADMIN")


@pytest.mark.parametrize(
    ("actor", "before", "after", "reason", "error", "message"),
    [
        (ADMIN, "USER", "PREMIUM", "", BackofficeError, user_roles.ERR_REASON),
        (ADMIN, "USER", "PREMIUM", "   ", BackofficeError, user_roles.ERR_REASON),
        (ADMIN, "USER", "BANNED", "spam", BackofficeError, user_roles.ERR_BANNED),
        (ADMIN, "BANNED", "USER", "appeal", BackofficeError, user_roles.ERR_BANNED),
        (ADMIN, "ADMIN", "USER", "step down", PermissionDenied, user_roles.ERR_SELF),
        (
            Actor(label="staff:s@example.com", staff_id="s2", user_id="u2", role="SUPPORT"),
            "USER",
            "PREMIUM",
            "comp",
            PermissionDenied,
            "may not use the change_role tool",
        ),
    ],
)
def test_refusals(actor, before, after, reason, error, message):
    user_id = actor.user_id if message == user_roles.ERR_SELF else "u-customer"
    with pytest.raises(error, match=re.escape(message[:30])):
        user_roles.user_role_change_check(
            user_id=user_id, role_before=before, role_after=after, reason=reason, actor=actor
        )


@pytest.mark.parametrize("after", [UserRole.USER, UserRole.PREMIUM, UserRole.ADMIN])
def test_an_admin_or_the_system_may_with_a_reason(after):
    for actor in (ADMIN, Actor.system("cli")):
        reason = user_roles.user_role_change_check(
            user_id="u-customer",
            role_before=UserRole.PREMIUM,
            role_after=after,
            reason="  Support ticket 42 ",
            actor=actor,
        )
        assert reason == "Support ticket 42"
