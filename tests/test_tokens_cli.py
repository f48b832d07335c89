"""`flask tokens ...`: grant, deduct, check, reconcile, expire."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, TokenLedgerEntry, User, utcnow
from dashboard.services.tokens import tokens_check, tokens_grant
from tests.factories import make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def user(email: str = "ann@example.com", **values) -> User:
    made = make_user(email=email, **values)
    db.session.commit()
    return made


def state(user_id: str) -> tuple[int, int, int]:
    """(balance, ledger rows, audit rows): what a refused command must leave alone."""
    db.session.expire_all()
    return (
        db.session.scalar(sa.select(User.tokens).where(User.id == user_id)),
        db.session.scalar(sa.select(sa.func.count()).select_from(TokenLedgerEntry)),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)),
    )


def test_grant_and_deduct_print_the_balance_before_and_after(runner):
    ann = user(tokens=2)
    future = (utcnow() + timedelta(days=10)).strftime("%Y-%m-%d")

    granted = runner.invoke(
        args=[
            "tokens",
            "grant",
            "ANN@example.com",
            "5",
            "--reason",
            "goodwill",
            "--expires",
            future,
        ]
    )
    taken = runner.invoke(args=["tokens", "deduct", "ann@example.com", "3", "--reason", "oops"])

    assert granted.exit_code == 0, granted.output
    assert granted.output.startswith("Granted 5 tokens to ANN@example.com: balance 2 -> 7")
    assert f"(tokens now expire {future} 00:00 UTC)" in granted.output
    assert taken.exit_code == 0, taken.output
    assert taken.output == "Deducted 3 tokens from ann@example.com: balance 7 -> 4.\n"
    assert state(ann.id)[0] == 4
    assert db.session.get(User, ann.id).tokens_expires_at == datetime.fromisoformat(future)
    actors = set(db.session.scalars(sa.select(AuditLog.actor_label)))
    assert actors == {"cli"}
    assert tokens_check() == []


def test_a_repeated_reference_says_nothing_changed(runner):
    ann = user()
    args = ["tokens", "grant", "ann@example.com", "5", "--reason", "r", "--reference", "in_1"]
    runner.invoke(args=args)
    again = runner.invoke(args=args)
    assert again.exit_code == 0
    assert again.output == "Reference 'in_1' was already applied; nothing changed.\n"
    assert state(ann.id)[:2] == (5, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "nobody@example.com", "5", "--reason", "r"], "No user with email"),
        (["grant", "ann@example.com", "0", "--reason", "r"], "greater than zero"),
        (["grant", "ann@example.com", "-5", "--reason", "r"], "greater than zero"),
        (["grant", "ann@example.com", "5", "--reasn", "r"], "Missing option '--reason'"),
        (["grant", "ann@example.com", "five", "--reason", "r"], "'five' is not a valid integer"),
        (["grant", "ann@example.com", "5"], "Missing option '--reason'"),
        (["grant", "ann@example.com", "5", "--reason", "  "], "A reason is required."),
        (["grant", "ann@example.com", "5", "--reason", "r", "--expires", "31/12/2030"], "31/12"),
        (["grant", "ann@example.com", "5", "--reason", "r", "--expires", "2001-01-01"], "future"),
        (["deduct", "ann@example.com", "9", "--reason", "r"], "Cannot deduct 9 tokens"),
        (["deduct", "ann@example.com", "2000000", "--reason", "r"], "too large"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(runner, args, message):
    ann = user(tokens=4)  # an adopted balance: even its opening row must not be written

    result = runner.invoke(args=["tokens", *args])

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert state(ann.id) == (4, 0, 0)


def test_check_lists_mismatches_and_fails_until_reconciled(runner):
    user("adopted@example.com", tokens=8)
    clean = user("clean@example.com")
    tokens_grant(user_id=clean.id, amount=2, reason="r", actor=Actor.system("test"))

    found = runner.invoke(args=["tokens", "check"])
    assert found.exit_code == 1
    assert "adopted@example.com: balance 8, ledger total 0, last ledger balance none" in (
        found.output
    )
    assert "clean@example.com" not in found.output
    assert "1 user(s) have a balance their ledger does not explain" in found.output

    reconciled = runner.invoke(args=["tokens", "reconcile"])
    assert reconciled.output == "Booked 1 opening balance(s) and 0 correction(s).\n"
    fine = runner.invoke(args=["tokens", "check"])
    assert (fine.exit_code, fine.output) == (0, "The ledger explains every balance.\n")


def test_check_stops_listing_at_the_limit(runner):
    for number in range(3):
        user(f"u{number}@example.com", tokens=1)
    result = runner.invoke(args=["tokens", "check", "--limit", "2"])
    assert result.exit_code == 1
    assert result.output.count("ledger total 0") == 2
    assert "more than 2 user(s)" in result.output


def test_expire_zeroes_passed_balances_and_is_safe_to_rerun(runner):
    ann = user()
    tokens_grant(user_id=ann.id, amount=6, reason="plan", actor=Actor.system("test"))
    db.session.execute(
        sa.update(User).where(User.id == ann.id).values(tokens_expires_at=datetime(2026, 1, 1))
    )
    db.session.commit()

    first = runner.invoke(args=["tokens", "expire"])
    second = runner.invoke(args=["tokens", "expire"])

    assert first.output == "Expired the tokens of 1 user(s) (0 had expired before).\n"
    assert second.output == "Expired the tokens of 0 user(s) (0 had expired before).\n"
    assert state(ann.id)[0] == 0
    assert tokens_check() == []
