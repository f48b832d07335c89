"""Finding the user staff mean when they type an email or an id: the one rule behind the
customer finder, the generate page and the CLI.

The rule: the user whose id is the query, else whose email is the query exactly, else the
users whose email matches it without regard to case (surrounding spaces ignored). The
customer finder may also look up a Stripe customer id, and lists what it found; a page or
command that needs one user uses ``user_resolve``, which refuses several.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dashboard.core.errors import BackofficeError, NotFound
from dashboard.extensions import db
from dashboard.models import StripeCustomer, User

ERR_EMPTY = "Choose the customer: enter their email or user id."
ERR_UNKNOWN = "No user has the email or id {query!r}."
ERR_AMBIGUOUS = "More than one user has an email like {query!r}; enter the user id instead."
# Longer input is no email or id; NUL would make PostgreSQL refuse the statement.
MAX_QUERY = 320
FIND_LIMIT = 10


@dataclass(frozen=True)
class UserMatch:
    id: str
    email: str


def user_query_plausible(text: str) -> bool:
    """False for input no user's id or email can be (too long, or with a NUL)."""
    return len(text) <= MAX_QUERY and "\x00" not in text


def users_find(
    *, query: str, by_stripe_customer: bool = False, limit: int = FIND_LIMIT
) -> list[UserMatch]:
    """The users ``query`` names by the rule above, at most ``limit``, by email; or, when
    nobody matches and ``by_stripe_customer``, the user of that Stripe customer id. Empty
    for blank or implausible input."""
    text = (query or "").strip()
    if not text or not user_query_plausible(text):
        return []
    columns = sa.select(User.id, User.email)
    found = db.session.execute(columns.where(User.id == text)).all()
    if not found:
        found = db.session.execute(columns.where(User.email == text)).all()
    if not found:
        found = db.session.execute(
            columns.where(sa.func.lower(User.email) == text.lower())
            .order_by(User.email)
            .limit(limit)
        ).all()
    if not found and by_stripe_customer:
        found = db.session.execute(
            columns.join(StripeCustomer, StripeCustomer.user_id == User.id).where(
                StripeCustomer.stripe_customer_id == text
            )
        ).all()
    return [UserMatch(row.id, row.email) for row in found[:limit]]


def user_resolve(query: str) -> User:
    """The one user ``query`` names by the rule above.

    Raises BackofficeError for an empty query, NotFound when nobody matches (or the query
    is absurdly long) and BackofficeError when several emails differ only by case."""
    text = (query or "").strip()
    if not text:
        raise BackofficeError(ERR_EMPTY)
    if not user_query_plausible(text):
        raise NotFound(ERR_UNKNOWN.format(query=text[:40].replace("\x00", "")))
    matches = users_find(query=text, limit=2)
    if len(matches) > 1:
        raise BackofficeError(ERR_AMBIGUOUS.format(query=text))
    if not matches:
        raise NotFound(ERR_UNKNOWN.format(query=text))
    return db.session.get(User, matches[0].id)
