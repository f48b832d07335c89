"""Token ledger, one user at a time: every change is a ledger row, balances and ledger never
disagree, errors write nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, LedgerKind, StaffRole, TokenLedgerEntry, User, utcnow
from dashboard.permissions import ERR_NOT_ALLOWED
from dashboard.services.tokens.ledger import (
    ERR_AMOUNT,
    ERR_BALANCE_LIMIT,
    ERR_EXPIRY_PAST,
    ERR_INSUFFICIENT,
    ERR_KIND,
    ERR_REASON,
    ERR_TOO_LARGE,
    MAX_AMOUNT,
    MAX_BALANCE,
    InsufficientTokens,
    tokens_deduct,
    tokens_grant,
)
from dashboard.services.tokens.reconcile import tokens_check, tokens_reconcile
from tests.factories import make_staff, make_user, staff_actor

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("test")


def ledger(user_id: str) -> list[tuple[str, int, int]]:
    rows = db.session.execute(
        sa.select(TokenLedgerEntry.kind, TokenLedgerEntry.delta, TokenLedgerEntry.balance_after)
        .where(TokenLedgerEntry.user_id == user_id)
        .order_by(TokenLedgerEntry.id)
    )
    return [(kind.value, delta, after) for kind, delta, after in rows]


def balance(user_id: str) -> int:
    return db.session.scalar(sa.select(User.tokens).where(User.id == user_id))


def audit_rows(user_id: str) -> list[AuditLog]:
    return list(
        db.session.scalars(
            sa.select(AuditLog).where(AuditLog.target_id == user_id).order_by(AuditLog.id)
        )
    )


def saved_user(**values) -> User:
    user = make_user(**values)
    db.session.commit()  # a service's rollback must not take the test's own rows with it
    return user


def test_grant_and_deduct_book_every_change_and_keep_the_ledger_clean(app):
    user = saved_user()
    expires = (utcnow() + timedelta(days=30)).replace(microsecond=0)

    granted = tokens_grant(
        user_id=user.id, amount=10, reason="goodwill", actor=SYSTEM, expires_at=expires
    )
    assert (granted.balance_before, granted.balance_after, granted.applied) == (0, 10, True)
    assert tokens_check() == []
    taken = tokens_deduct(user_id=user.id, amount=4, reason="refund clawback", actor=SYSTEM)
    assert (taken.balance_before, taken.balance_after) == (10, 6)

    assert ledger(user.id) == [("GRANT", 10, 10), ("DEDUCT", -4, 6)]
    assert balance(user.id) == 6
    assert db.session.get(User, user.id).tokens_expires_at == expires
    first, second = audit_rows(user.id)
    assert (first.action, first.reason) == ("tokens.grant", "goodwill")
    assert first.changes["tokens"] == {"before": 0, "after": 10}
    assert first.changes["tokensExpiresAt"]["after"] == expires.isoformat()
    assert (second.action, second.changes["tokens"]) == (
        "tokens.deduct",
        {"before": 10, "after": 6},
    )
    assert tokens_check() == []


def test_deducting_more_than_the_balance_is_refused_and_writes_nothing(app):
    user = saved_user(email="short@example.com", tokens=3)  # adopted balance, no ledger yet

    with pytest.raises(InsufficientTokens) as refused:
        tokens_deduct(user_id=user.id, amount=5, reason="oops", actor=SYSTEM)

    assert refused.value.message == ERR_INSUFFICIENT.format(
        amount=5, email="short@example.com", balance=3
    )
    assert balance(user.id) == 3
    assert ledger(user.id) == []  # not even the opening balance
    assert audit_rows(user.id) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"amount": 0}, ERR_AMOUNT),
        ({"amount": -3}, ERR_AMOUNT),
        ({"amount": True}, ERR_AMOUNT),
        ({"amount": 2.5}, ERR_AMOUNT),
        ({"amount": MAX_AMOUNT + 1}, ERR_TOO_LARGE.format(limit=MAX_AMOUNT)),
        ({"reason": ""}, ERR_REASON),
        ({"reason": "   "}, ERR_REASON),
        ({"reason": None}, ERR_REASON),
        ({"expires_at": utcnow() - timedelta(minutes=1)}, ERR_EXPIRY_PAST),
        ({"kind": LedgerKind.DEDUCT}, ERR_KIND.format(kind="DEDUCT", direction="grant")),
        ({"kind": LedgerKind.OPENING_BALANCE}, "OPENING_BALANCE cannot be used to grant"),
    ],
)
def test_bad_grants_are_refused_and_write_nothing(app, arguments, message):
    user = saved_user(tokens=2)
    values = {"user_id": user.id, "amount": 5, "reason": "because", "actor": SYSTEM}

    with pytest.raises(BackofficeError) as refused:
        tokens_grant(**{**values, **arguments})

    assert refused.value.message.startswith(message)
    assert (balance(user.id), ledger(user.id), audit_rows(user.id)) == (2, [], [])


def test_unknown_user_is_not_found(app):
    with pytest.raises(NotFound):
        tokens_grant(user_id="nobody", amount=1, reason="x", actor=SYSTEM)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TokenLedgerEntry)) == 0


def test_a_retried_grant_with_the_same_reference_is_applied_once(app):
    user = saved_user()
    arguments = {"user_id": user.id, "amount": 7, "reason": "invoice paid", "actor": SYSTEM}

    first = tokens_grant(**arguments, reference="in_123")
    again = tokens_grant(**arguments, reference="in_123")

    assert (first.applied, again.applied) == (True, False)
    assert again.entry.id == first.entry.id
    assert (again.balance_before, again.balance_after) == (0, 7)
    assert balance(user.id) == 7 and ledger(user.id) == [("GRANT", 7, 7)]
    # The same reference on another user is a mistake, not a retry.
    other = saved_user()
    with pytest.raises(Conflict):
        tokens_grant(**{**arguments, "user_id": other.id}, reference="in_123")
    assert balance(other.id) == 0
    assert tokens_check() == []


def test_an_adopted_balance_gets_an_opening_row_on_first_touch(app):
    user = saved_user(tokens=40)  # a balance from before Backoffice
    assert [m.user_id for m in tokens_check()] == [user.id]

    tokens_deduct(user_id=user.id, amount=15, reason="abuse", actor=SYSTEM)

    assert ledger(user.id) == [("OPENING_BALANCE", 40, 40), ("DEDUCT", -15, 25)]
    assert audit_rows(user.id)[-1].details == {"delta": -15, "opening_balance": 40}
    assert tokens_check() == []


def test_a_balance_changed_behind_the_ledger_is_booked_as_a_correction(app):
    user = saved_user()
    tokens_grant(user_id=user.id, amount=10, reason="start", actor=SYSTEM)
    stale = db.session.get(User, user.id)
    assert stale.tokens == 10
    # The seed app spends tokens by writing User.tokens itself.
    db.session.execute(sa.text('UPDATE "User" SET tokens = 7 WHERE id = :id'), {"id": user.id})
    db.session.commit()
    assert [(m.balance, m.ledger_total) for m in tokens_check()] == [(7, 10)]

    change = tokens_grant(user_id=user.id, amount=1, reason="sorry", actor=SYSTEM)

    assert (change.balance_before, change.balance_after) == (7, 8)
    assert ledger(user.id) == [("GRANT", 10, 10), ("CORRECTION", -3, 7), ("GRANT", 1, 8)]
    assert tokens_check() == []


def test_a_grant_past_the_integer_limit_is_refused(app):
    user = saved_user(email="rich@example.com")
    tokens_grant(user_id=user.id, amount=MAX_AMOUNT, reason="start", actor=SYSTEM)
    db.session.execute(sa.update(User).where(User.id == user.id).values(tokens=MAX_BALANCE - 2))
    tokens_reconcile(actor=SYSTEM)

    with pytest.raises(BackofficeError) as refused:
        tokens_grant(user_id=user.id, amount=5, reason="more", actor=SYSTEM)

    assert refused.value.message == ERR_BALANCE_LIMIT.format(
        amount=5, email="rich@example.com", limit=MAX_BALANCE
    )
    assert balance(user.id) == MAX_BALANCE - 2
    assert tokens_check() == []


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(StaffRole.ADMIN, True), (StaffRole.SUPPORT, True), (StaffRole.EDITOR, False)],
)
def test_only_roles_with_the_adjust_tokens_tool_grant_or_deduct(app, role, allowed):
    actor = staff_actor(make_staff(role))
    user = saved_user(tokens=0)
    if allowed:
        tokens_grant(user_id=user.id, amount=3, reason="help", actor=actor)
        tokens_deduct(user_id=user.id, amount=1, reason="help", actor=actor)
        assert balance(user.id) == 2
        assert {row.actor_staff_id for row in audit_rows(user.id)} == {actor.staff_id}
        return
    for service in (tokens_grant, tokens_deduct):
        with pytest.raises(PermissionDenied) as refused:
            service(user_id=user.id, amount=1, reason="help", actor=actor)
        assert refused.value.message == ERR_NOT_ALLOWED.format(role="EDITOR", tool="adjust_tokens")
    assert (balance(user.id), ledger(user.id)) == (0, [])


def test_charges_made_for_a_staff_member_need_no_adjust_tokens_tool(app):
    editor = staff_actor(make_staff(StaffRole.EDITOR))
    user = saved_user()
    tokens_grant(user_id=user.id, amount=2, reason="plan", actor=SYSTEM)

    tokens_deduct(
        user_id=user.id,
        amount=1,
        reason="post generated",
        actor=editor,
        kind=LedgerKind.GENERATION_CHARGE,
    )

    assert ledger(user.id)[-1] == ("GENERATION_CHARGE", -1, 1)


def test_check_reports_each_disagreement_and_reconcile_books_them(app):
    adopted = saved_user(email="adopted@example.com", tokens=12)
    drifted = saved_user(email="drifted@example.com")
    fine = saved_user(email="fine@example.com")
    tokens_grant(user_id=drifted.id, amount=5, reason="start", actor=SYSTEM)
    tokens_grant(user_id=fine.id, amount=5, reason="start", actor=SYSTEM)
    db.session.execute(sa.update(User).where(User.id == drifted.id).values(tokens=9))
    db.session.commit()

    found = {(m.email, m.balance, m.ledger_total, m.last_balance_after) for m in tokens_check()}
    assert found == {("adopted@example.com", 12, 0, None), ("drifted@example.com", 9, 5, 5)}

    assert tokens_reconcile(actor=SYSTEM) == (1, 1)
    assert tokens_check() == []
    assert ledger(adopted.id) == [("OPENING_BALANCE", 12, 12)]
    assert ledger(drifted.id) == [("GRANT", 5, 5), ("CORRECTION", 4, 9)]
    summary = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "tokens.reconcile")
    ).one()
    assert summary.details == {"opening_balances": 1, "corrections": 1}
    assert tokens_reconcile(actor=SYSTEM) == (0, 0)  # nothing left to book
