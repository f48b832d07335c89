"""The batched forms of the membership and token rules the resync uses agree with the
one-at-a-time forms webhooks of other doors use."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, LedgerKind, TokenLedgerEntry, User, UserRole, utcnow
from dashboard.services.membership import (
    membership_recompute_in_transaction,
    membership_recompute_many_in_transaction,
)
from dashboard.services.tokens.ledger import (
    InsufficientTokens,
    LedgerRequest,
    tokens_apply_in_transaction,
    tokens_apply_many_in_transaction,
)
from tests.factories import make_price, make_subscription, make_user

ACTOR = Actor.system("cli")
STATUSES = [
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete_expired",
    "incomplete",
    None,
]


def _state(user_id: str) -> tuple:
    user = db.session.get(User, user_id, populate_existing=True)
    return user.role, user.membership_status, user.stripe_product_id


def test_membership_recompute_many_matches_membership_recompute(app):
    price = make_price()
    pairs = []
    for status in STATUSES:
        one, many = make_user(role=UserRole.PREMIUM), make_user(role=UserRole.PREMIUM)
        for user in (one, many):
            if status:
                make_subscription(user, price, status=status)
        pairs.append((one.id, many.id))
    banned = make_user(role=UserRole.BANNED)
    make_subscription(banned, price)

    for one, _ in pairs:
        membership_recompute_in_transaction(user_id=one, actor=ACTOR)
    changed = membership_recompute_many_in_transaction(
        user_ids=[m for _, m in pairs] + [banned.id], actor=ACTOR
    )

    assert [_state(one) for one, _ in pairs] == [_state(many) for _, many in pairs]
    assert _state(banned.id)[0] == UserRole.BANNED
    audits = db.session.scalars(
        sa.select(AuditLog.target_id).where(AuditLog.action == "user.membership_recompute")
    ).all()
    assert changed == sum(1 for _, m in pairs if m in audits)
    assert (
        membership_recompute_many_in_transaction(user_ids=[m for _, m in pairs], actor=ACTOR) == 0
    )


def test_tokens_apply_many_books_like_tokens_apply(app):
    alone, batched = make_user(tokens=5), make_user(tokens=5)  # balances before the ledger
    expires = utcnow().replace(microsecond=0) + timedelta(days=30)
    tokens_apply_in_transaction(
        user_id=alone.id,
        delta=100,
        kind=LedgerKind.SUBSCRIPTION_GRANT,
        reason="r",
        actor=ACTOR,
        reference="in_a",
        expires_at=expires,
    )
    requests = [
        LedgerRequest(batched.id, 100, LedgerKind.SUBSCRIPTION_GRANT, "r", "in_b", expires),
        LedgerRequest(batched.id, 100, LedgerKind.SUBSCRIPTION_GRANT, "r", "in_b", expires),
        LedgerRequest(alone.id, 100, LedgerKind.SUBSCRIPTION_GRANT, "r", "in_a", expires),
    ]

    assert (
        tokens_apply_many_in_transaction(requests=requests, actor=ACTOR) == 1
    )  # twins and done ones skipped
    assert tokens_apply_many_in_transaction(requests=requests, actor=ACTOR) == 0

    def ledger(user_id: str) -> list[tuple]:
        return db.session.execute(
            sa.select(TokenLedgerEntry.kind, TokenLedgerEntry.delta, TokenLedgerEntry.balance_after)
            .where(TokenLedgerEntry.user_id == user_id)
            .order_by(TokenLedgerEntry.id)
        ).all()

    assert (
        ledger(alone.id)
        == ledger(batched.id)
        == [(LedgerKind.OPENING_BALANCE, 5, 5), (LedgerKind.SUBSCRIPTION_GRANT, 100, 105)]
    )
    for user in (alone, batched):
        db.session.refresh(user)
        assert (user.tokens, user.tokens_expires_at) == (105, expires)


def test_tokens_apply_many_refuses_a_negative_balance_and_writes_nothing(app):
    user = make_user()
    requests = [
        LedgerRequest(user.id, 10, LedgerKind.GRANT, "gift", "g1"),
        LedgerRequest(user.id, -50, LedgerKind.DEDUCT, "too much", "d1"),
    ]
    with pytest.raises(InsufficientTokens):
        tokens_apply_many_in_transaction(requests=requests, actor=ACTOR)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TokenLedgerEntry)) == 0
