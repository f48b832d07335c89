"""The user rows a change starts from.

Every rule that changes a user's row (a ban, an unban, a sign-out, a token change) first
locks it with ``user_lock`` (or ``users_lock`` for many): changes to one user then happen one
at a time, and each starts from the values the previous one committed.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from dashboard.core.errors import NotFound
from dashboard.extensions import db
from dashboard.models import User

ERR_USER = "No user with id {user_id}."


def users_lock(user_ids: Iterable[str]) -> dict[str, User]:
    """The users by id, loaded fresh from the database and locked until the transaction
    ends; locked in id order, so two callers locking overlapping sets cannot deadlock.

    ``FOR NO KEY UPDATE`` (``key_share``): it waits for other changes to these users but not
    for rows that merely reference them (a new session, ledger row or job). Raises NotFound
    for the first unknown id.
    """
    ids = sorted(set(user_ids))
    users = db.session.scalars(
        sa.select(User)
        .where(User.id.in_(ids))
        .order_by(User.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    found = {user.id: user for user in users}
    missing = next((user_id for user_id in ids if user_id not in found), None)
    if missing is not None:
        raise NotFound(ERR_USER.format(user_id=missing))
    return found


def user_lock(user_id: str) -> User:
    """``users_lock`` for one user."""
    return users_lock([user_id])[user_id]
