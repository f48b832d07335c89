"""Finding the customer staff mean when they type an email or an id into a page."""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.core.errors import BackofficeError, NotFound
from dashboard.extensions import db
from dashboard.models import User

ERR_EMPTY = "Choose the customer: enter their email or user id."
ERR_UNKNOWN = "No user has the email or id {query!r}."
ERR_AMBIGUOUS = "More than one user has an email like {query!r}; enter the user id instead."
MAX_QUERY = 320


def user_resolve(query: str) -> User:
    """The user whose id is ``query``, else whose email is ``query`` exactly, else the one
    user whose email matches it without regard to case (surrounding spaces ignored).

    Raises BackofficeError for an empty (or absurdly long) query, NotFound when nobody
    matches and BackofficeError when several emails differ only by case."""
    text = (query or "").strip()
    if not text:
        raise BackofficeError(ERR_EMPTY)
    if len(text) > MAX_QUERY or "\x00" in text:  # PostgreSQL refuses NUL in a string
        raise NotFound(ERR_UNKNOWN.format(query=text[:40].replace("\x00", "")))
    user = db.session.get(User, text)
    if user is not None:
        return user
    user = db.session.execute(sa.select(User).where(User.email == text)).scalar_one_or_none()
    if user is not None:
        return user
    matches = (
        db.session.execute(
            sa.select(User).where(sa.func.lower(User.email) == text.lower()).limit(2)
        )
        .scalars()
        .all()
    )
    if len(matches) > 1:
        raise BackofficeError(ERR_AMBIGUOUS.format(query=text))
    if not matches:
        raise NotFound(ERR_UNKNOWN.format(query=text))
    return matches[0]
