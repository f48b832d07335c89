"""Token changes for every user matching a filter, and expiry: set-based, skipping whom they
must, and leaving the ledger clean."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, StaffRole, TokenLedgerEntry, User, UserRole, utcnow
from dashboard.services.tokens import tokens_check
from dashboard.services.tokens.bulk import (
    expiry_reference,
    tokens_deduct_bulk,
    tokens_expire,
    tokens_grant_bulk,
)
from dashboard.services.tokens.ledger import ERR_AMOUNT, ERR_EXPIRY_PAST, ERR_REASON
from dashboard.services.tokens.ledger import tokens_grant as grant_one
from tests.factories import make_staff, make_user, staff_actor
from tests.services.test_tokens import audit_rows, balance, ledger

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("test")


def users(*balances: int, **values) -> list[User]:
    made = [make_user(tokens=tokens, **values) for tokens in balances]
    db.session.commit()
    return made


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_bulk_grant_reaches_exactly_the_filtered_users_and_books_openings_first(app):
    premium = users(0, 4, role=UserRole.PREMIUM)  # the second has an adopted balance
    others = users(0, 9)
    expires = (utcnow() + timedelta(days=60)).replace(microsecond=0)

    result = tokens_grant_bulk(
        user_filter=User.role == UserRole.PREMIUM,
        amount=5,
        reason="outage apology",
        actor=SYSTEM,
        expires_at=expires,
        filter_label="role = PREMIUM",
    )

    assert (result.matched, result.changed, result.skipped, result.opening_balances) == (
        2,
        2,
        0,
        1,
    )
    assert ledger(premium[0].id) == [("GRANT", 5, 5)]
    assert ledger(premium[1].id) == [("OPENING_BALANCE", 4, 4), ("GRANT", 5, 9)]
    assert [balance(u.id) for u in others] == [0, 9] and ledger(others[0].id) == []
    assert {db.session.get(User, u.id).tokens_expires_at for u in premium} == {expires}
    per_user = audit_rows(premium[1].id)[-1]
    assert (per_user.action, per_user.reason) == ("tokens.grant", "outage apology")
    assert per_user.changes == {"tokens": {"before": 4, "after": 9}}
    assert per_user.details["bulk_audit_id"] == result.audit_id
    summary = db.session.get(AuditLog, result.audit_id)
    assert summary.action == "tokens.bulk_grant"
    assert summary.details["filter"] == "role = PREMIUM" and summary.details["changed"] == 2
    # others[1] still has an unbooked adopted balance: reported, untouched.
    assert [m.user_id for m in tokens_check()] == [others[1].id]


def test_the_selection_is_frozen_before_the_change(app):
    empty = users(0, 0, 0)

    result = tokens_grant_bulk(
        user_filter=User.tokens == 0, amount=2, reason="welcome", actor=SYSTEM
    )

    # Users stop matching "tokens == 0" once granted; each is still granted exactly once.
    assert result.changed == 3
    assert [ledger(u.id) for u in empty] == [[("GRANT", 2, 2)]] * 3
    assert tokens_check() == []


@pytest.mark.parametrize("shape", ["where", "select", "ids"])
def test_a_filter_can_be_a_where_clause_a_select_of_ids_or_ids(app, shape):
    chosen = users(1, 1, email_verified=datetime(2026, 1, 1))
    users(1)
    where = User.email_verified.is_not(None)
    user_filter = {
        "where": where,
        "select": sa.select(User.id).where(where),
        "ids": [u.id for u in chosen],
    }[shape]

    result = tokens_grant_bulk(user_filter=user_filter, amount=1, reason="x", actor=SYSTEM)

    assert (result.matched, result.changed) == (2, 2)
    assert sorted(balance(u.id) for u in chosen) == [2, 2]


def test_bulk_deduct_skips_users_who_have_too_few_tokens(app):
    rich, poor, exact = users(10, 3, 5)
    tokens_grant_bulk(user_filter=sa.true(), amount=1, reason="setup", actor=SYSTEM)

    result = tokens_deduct_bulk(user_filter=sa.true(), amount=6, reason="clawback", actor=SYSTEM)

    assert (result.matched, result.changed, result.skipped_short) == (3, 2, 1)
    assert [balance(u.id) for u in (rich, poor, exact)] == [5, 4, 0]
    assert ledger(poor.id)[-1] == ("GRANT", 1, 4)  # nothing booked for the skipped user
    assert ledger(exact.id)[-1] == ("DEDUCT", -6, 0)
    assert tokens_check() == []


def test_a_bulk_change_with_a_reference_is_applied_once_per_user(app):
    first = users(0)
    arguments = {"user_filter": sa.true(), "amount": 3, "reason": "promo", "actor": SYSTEM}
    tokens_grant_bulk(**arguments, reference="job-42")
    users(0)  # a new user appears before the retry

    again = tokens_grant_bulk(**arguments, reference="job-42")

    assert (again.matched, again.changed, again.skipped_already_applied) == (2, 1, 1)
    assert ledger(first[0].id) == [("GRANT", 3, 3)]
    refs = db.session.scalars(sa.select(TokenLedgerEntry.reference)).all()
    assert sorted(refs) == sorted(f"job-42:{uid}" for uid in db.session.scalars(sa.select(User.id)))


def test_an_empty_selection_changes_nothing(app):
    users(4)
    result = tokens_grant_bulk(user_filter=[], amount=3, reason="x", actor=SYSTEM)
    assert (result.matched, result.changed) == (0, 0)
    assert count(TokenLedgerEntry) == 0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"amount": 0}, BackofficeError, ERR_AMOUNT),
        ({"reason": " "}, BackofficeError, ERR_REASON),
        ({"expires_at": datetime(2020, 1, 1)}, BackofficeError, ERR_EXPIRY_PAST),
        ({"actor": "editor"}, PermissionDenied, "Your role (EDITOR) may not use"),
    ],
)
def test_bad_bulk_grants_write_nothing(app, arguments, error, message):
    made = users(1, 2)
    if arguments.get("actor") == "editor":
        arguments = {"actor": staff_actor(make_staff(StaffRole.EDITOR))}
    values = {"user_filter": sa.true(), "amount": 5, "reason": "r", "actor": SYSTEM}

    with pytest.raises(error) as refused:
        tokens_grant_bulk(**{**values, **arguments})

    assert refused.value.message.startswith(message)
    assert (count(TokenLedgerEntry), count(AuditLog)) == (0, 0)
    assert [balance(u.id) for u in made] == [1, 2]


def test_expiry_zeroes_passed_balances_once(app):
    now = utcnow()
    past = datetime(2026, 1, 2, 3, 4, 5, 678000)
    due, later = users(0, 0)
    untouched = users(0)[0]
    grant_one(user_id=due.id, amount=8, reason="plan", actor=SYSTEM)
    grant_one(
        user_id=later.id,
        amount=6,
        reason="plan",
        actor=SYSTEM,
        expires_at=now + timedelta(days=3),
    )
    db.session.execute(sa.update(User).where(User.id == due.id).values(tokens_expires_at=past))
    db.session.commit()

    result = tokens_expire(now=now + timedelta(days=1))

    assert (result.matched, result.changed) == (1, 1)
    assert ledger(due.id)[-1] == ("EXPIRY", -8, 0)
    expiry_row = db.session.scalars(
        sa.select(TokenLedgerEntry).where(TokenLedgerEntry.kind == "EXPIRY")
    ).one()
    assert expiry_row.reference == f"expiry:{due.id}:2026-01-02T03:04:05.678"
    assert expiry_row.reference == expiry_reference(due.id, past)
    assert [balance(later.id), balance(untouched.id)] == [6, 0]
    assert audit_rows(due.id)[-1].action == "tokens.expiry"
    assert tokens_check() == []

    # Tokens granted after the expiry, without a new date, survive later runs.
    grant_one(user_id=due.id, amount=2, reason="sorry", actor=SYSTEM)
    again = tokens_expire(now=now + timedelta(days=1))
    assert (again.matched, again.changed, again.skipped_already_applied) == (1, 0, 1)
    assert balance(due.id) == 2
    # A new expiry date that passes expires them again.
    db.session.execute(
        sa.update(User).where(User.id == due.id).values(tokens_expires_at=past + timedelta(1))
    )
    db.session.commit()
    assert tokens_expire(now=now + timedelta(days=1)).changed == 1
    assert balance(due.id) == 0
    # The later expiry, once passed, goes too; running again finds nothing.
    assert tokens_expire(now=now + timedelta(days=4)).changed == 1
    assert tokens_expire(now=now + timedelta(days=4)).matched == 0
    assert tokens_check() == []


def test_a_bulk_change_first_corrects_balances_changed_behind_the_ledger(app):
    drifted, steady = users(0, 0)
    tokens_grant_bulk(user_filter=sa.true(), amount=5, reason="start", actor=SYSTEM)
    db.session.execute(sa.update(User).where(User.id == drifted.id).values(tokens=9))
    db.session.commit()

    result = tokens_deduct_bulk(user_filter=sa.true(), amount=2, reason="use", actor=SYSTEM)

    assert (result.changed, result.corrections, result.opening_balances) == (2, 1, 0)
    assert ledger(drifted.id) == [("GRANT", 5, 5), ("CORRECTION", 4, 9), ("DEDUCT", -2, 7)]
    assert ledger(steady.id) == [("GRANT", 5, 5), ("DEDUCT", -2, 3)]
    assert tokens_check() == []
