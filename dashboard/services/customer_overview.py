"""What the customer page reads: one user's profile, and the latest rows of everything
attached to them.

Rules:
- Read-only. Changes go through ``moderation`` and ``tokens``.
- The profile is one statement; each section is one statement with a LIMIT, whatever the
  user has (thousands of payments or ledger rows cost what three do). A section reads one
  row more than it shows, to say whether there are more.
- Secrets are never read: accounts give their provider, sessions their expiry; the token
  columns are not selected at all.
- Which sections and fields a staff member may see is the caller's decision (the page asks
  ``dashboard.permissions``); only the sections asked for are queried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import (
    Account,
    AuditLog,
    BlogPost,
    PaymentHistory,
    PaymentRefund,
    Session,
    StaffAccount,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    TokenLedgerEntry,
    User,
    UserModeration,
    UserSubscription,
    utcnow,
)
from dashboard.services.stripe.mapping import REFUND_COUNTED

# Rows shown per section, and the model whose VIEW permission a section needs.
SECTION_LIMITS = {
    "subscriptions": 20,
    "payments": 20,
    "ledger": 50,
    "accounts": 20,
    "sessions": 20,
    "posts": 20,
    "history": 50,
}
SECTION_MODELS = {
    "subscriptions": "UserSubscription",
    "payments": "PaymentHistory",
    "ledger": "TokenLedgerEntry",
    "accounts": "Account",
    "sessions": "Session",
    "posts": "BlogPost",
    "history": "AuditLog",
}


@dataclass(frozen=True)
class Profile:
    id: str
    email: str
    name: str | None
    created_at: datetime
    email_verified: datetime | None
    role: str
    membership_status: str
    stripe_product_id: str | None
    plan_name: str | None
    tokens: int
    tokens_expires_at: datetime | None
    stripe_customer_id: str | None
    staff_role: str | None
    banned_at: datetime | None
    banned_until: datetime | None
    ban_reason: str | None
    banned_by: str | None


@dataclass(frozen=True)
class Section:
    rows: list[Any]
    limit: int
    more: bool  # the user has more rows than shown


def customer_profile(*, user_id: str) -> Profile | None:
    """The user's profile with their plan's name, Stripe customer id, staff role and current
    ban, in one statement; None for an unknown user."""
    row = db.session.execute(
        sa.select(
            User.id.label("id"),
            User.email.label("email"),
            User.name.label("name"),
            User.created_at.label("created_at"),
            User.email_verified.label("email_verified"),
            User.role.label("role"),
            User.membership_status.label("membership_status"),
            User.stripe_product_id.label("stripe_product_id"),
            StripeProduct.name.label("plan_name"),
            User.tokens.label("tokens"),
            User.tokens_expires_at.label("tokens_expires_at"),
            StripeCustomer.stripe_customer_id.label("stripe_customer_id"),
            StaffAccount.role.label("staff_role"),
            UserModeration.banned_at.label("banned_at"),
            UserModeration.banned_until.label("banned_until"),
            UserModeration.reason.label("ban_reason"),
            UserModeration.banned_by_label.label("banned_by"),
        )
        .outerjoin(StripeProduct, StripeProduct.id == User.stripe_product_id)
        .outerjoin(StripeCustomer, StripeCustomer.user_id == User.id)
        .outerjoin(StaffAccount, StaffAccount.user_id == User.id)
        .outerjoin(UserModeration, UserModeration.user_id == User.id)
        .where(User.id == user_id)
    ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    for name in ("role", "membership_status", "staff_role"):  # enums as their plain names
        values[name] = getattr(values[name], "value", values[name])
    return Profile(**values)


def _subscriptions(user_id: str, now: datetime) -> sa.Select[Any]:
    return (
        sa.select(
            UserSubscription.id,
            UserSubscription.stripe_subscription_id,
            UserSubscription.status,
            StripeProduct.name.label("product"),
            StripePrice.unit_amount,
            StripePrice.currency,
            StripePrice.interval,
            StripePrice.interval_count,
            UserSubscription.current_period_start,
            UserSubscription.current_period_end,
            UserSubscription.cancel_at_period_end,
        )
        .outerjoin(StripeProduct, StripeProduct.id == UserSubscription.stripe_product_id)
        .outerjoin(StripePrice, StripePrice.id == UserSubscription.stripe_price_id)
        .where(UserSubscription.user_id == user_id)
        .order_by(UserSubscription.current_period_end.desc(), UserSubscription.id)
    )


def _payments(user_id: str, now: datetime) -> sa.Select[Any]:
    return (
        sa.select(
            PaymentHistory.id,
            PaymentHistory.stripe_payment_intent_id,
            PaymentHistory.amount,
            PaymentHistory.currency,
            PaymentHistory.status,
            PaymentHistory.created_at,
            _refunded().label("refunded"),
        )
        .where(PaymentHistory.user_id == user_id)
        .order_by(PaymentHistory.created_at.desc(), PaymentHistory.id.desc())
    )


def _refunded() -> sa.ScalarSelect[Any]:
    """What each payment has had refunded (its Stripe refunds that count)."""
    return (
        sa.select(sa.func.coalesce(sa.func.sum(PaymentRefund.amount), 0))
        .where(
            PaymentRefund.stripe_payment_intent_id == PaymentHistory.stripe_payment_intent_id,
            PaymentRefund.status.in_(REFUND_COUNTED),
        )
        .scalar_subquery()
    )


def _ledger(user_id: str, now: datetime) -> sa.Select[Any]:
    return (
        sa.select(
            TokenLedgerEntry.created_at,
            TokenLedgerEntry.kind,
            TokenLedgerEntry.delta,
            TokenLedgerEntry.balance_after,
            TokenLedgerEntry.expires_at,
            TokenLedgerEntry.reason,
            TokenLedgerEntry.actor_label,
        )
        .where(TokenLedgerEntry.user_id == user_id)
        .order_by(TokenLedgerEntry.id.desc())
    )


def _accounts(user_id: str, now: datetime) -> sa.Select[Any]:
    # Provider and kind only: the token columns stay in the database.
    return (
        sa.select(Account.provider, Account.type)
        .where(Account.user_id == user_id)
        .order_by(Account.provider, Account.id)
    )


def _sessions(user_id: str, now: datetime) -> sa.Select[Any]:
    # The expiry only: the session token is the key to the customer's account.
    return (
        sa.select(Session.expires)
        .where(Session.user_id == user_id, Session.expires > now)
        .order_by(Session.expires.desc())
    )


def _posts(user_id: str, now: datetime) -> sa.Select[Any]:
    return (
        sa.select(BlogPost.id, BlogPost.title, BlogPost.is_published, BlogPost.created_at)
        .where(BlogPost.user_id == user_id)
        .order_by(BlogPost.created_at.desc(), BlogPost.id.desc())
    )


def _history(user_id: str, now: datetime) -> sa.Select[Any]:
    return (
        sa.select(
            AuditLog.id,
            AuditLog.created_at,
            AuditLog.actor_label,
            AuditLog.action,
            AuditLog.changes,
            AuditLog.reason,
            AuditLog.ip,
        )
        .where(AuditLog.target_model == "User", AuditLog.target_id == user_id)
        .order_by(AuditLog.id.desc())
    )


QUERIES = {
    "subscriptions": _subscriptions,
    "payments": _payments,
    "ledger": _ledger,
    "accounts": _accounts,
    "sessions": _sessions,
    "posts": _posts,
    "history": _history,
}


def customer_sections(
    *, user_id: str, sections: Iterable[str], now: datetime | None = None
) -> dict[str, Section]:
    """The latest rows of each named section (``SECTION_LIMITS``), newest first, one
    statement per section. Active sessions are those expiring after ``now``.
    Raises KeyError for an unknown section name."""
    now = now or utcnow()
    found = {}
    for name in sections:
        limit = SECTION_LIMITS[name]
        rows = db.session.execute(QUERIES[name](user_id, now).limit(limit + 1)).all()
        found[name] = Section(rows=rows[:limit], limit=limit, more=len(rows) > limit)
    return found
