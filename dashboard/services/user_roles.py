"""The rule for changing ``User.role`` by hand (an administrator's edit form).

A role changes in three ways only: ban and unban (``dashboard.services.moderation.bans``), the
Stripe sync (PREMIUM follows subscriptions), and an administrator's edit with a reason,
checked here. The edit form writes the change and its audit row (``model.update`` with the
reason) in one transaction; this function decides whether it may.
"""

from __future__ import annotations

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.models import UserRole
from dashboard.permissions import Tool, require_tool

ERR_REASON = "Give a reason for changing the role; it is kept in the audit trail."
ERR_BANNED = (
    "Banning and unbanning are done with Ban and Unban (they also end sessions and remember "
    "the previous role); choose USER, PREMIUM or ADMIN."
)
ERR_SELF = "You cannot change the role of your own user."
EDITABLE_ROLES = (UserRole.USER, UserRole.PREMIUM, UserRole.ADMIN)


def user_role_change_check(
    *,
    user_id: str,
    role_before: UserRole | str,
    role_after: UserRole | str,
    reason: str | None,
    actor: Actor,
) -> str:
    """Check a hand edit of a user's role and return the cleaned reason.

    Rules: the actor needs the ``change_role`` tool; a reason is required; BANNED is neither
    set nor lifted here (ban/unban own it); nobody changes their own user's role.
    Raises PermissionDenied or BackofficeError (message for the form); writes nothing.
    """
    require_tool(actor, Tool.CHANGE_ROLE)
    before, after = UserRole(role_before), UserRole(role_after)
    if UserRole.BANNED in (before, after):
        raise BackofficeError(ERR_BANNED)
    if actor.user_id is not None and actor.user_id == user_id:
        raise PermissionDenied(ERR_SELF)
    cleaned = (reason or "").strip()
    if not cleaned:
        raise BackofficeError(ERR_REASON)
    return cleaned
