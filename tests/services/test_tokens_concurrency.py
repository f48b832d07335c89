"""Races on PostgreSQL: many connections changing the same balances at once must end with
the exact balance, a ledger that explains it, and never a negative balance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import LedgerKind, TokenLedgerEntry, User
from dashboard.services.tokens.bulk import tokens_grant_bulk
from dashboard.services.tokens.ledger import (
    InsufficientTokens,
    tokens_deduct,
    tokens_grant,
)
from dashboard.services.tokens.reconcile import tokens_check
from tests.factories import make_user

SYSTEM = Actor.system("test")


def race(app: Flask, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread and app context, all released at once; return each
    job's result or the exception it raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[index] = job()
            except Exception as exc:  # collected and asserted by the test
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def ledger_rows(user_id: str) -> list[tuple[int, int]]:
    db.session.expire_all()
    return db.session.execute(
        sa.select(TokenLedgerEntry.delta, TokenLedgerEntry.balance_after)
        .where(TokenLedgerEntry.user_id == user_id)
        .order_by(TokenLedgerEntry.id)
    ).all()


def test_fifty_threads_granting_and_deducting_end_exact_and_never_negative(committed_app):
    user_id = make_user().id  # threads must not touch the main thread's ORM objects
    db.session.commit()
    tokens_grant(user_id=user_id, amount=10, reason="start", actor=SYSTEM)

    def grant() -> Any:
        return tokens_grant(user_id=user_id, amount=1, reason="race", actor=SYSTEM)

    def deduct() -> Any:
        return tokens_deduct(user_id=user_id, amount=3, reason="race", actor=SYSTEM)

    results = race(committed_app, [grant, deduct] * 25)

    unexpected = [r for r in results if isinstance(r, Exception)]
    unexpected = [r for r in unexpected if not isinstance(r, InsufficientTokens)]
    assert unexpected == []
    deducted = sum(1 for r in results[1::2] if not isinstance(r, Exception))
    refused = 25 - deducted
    assert refused > 0  # demand (75) exceeds supply (35): some deductions had to be refused
    db.session.expire_all()
    final = db.session.get(User, user_id).tokens
    assert final == 10 + 25 - 3 * deducted
    rows = ledger_rows(user_id)
    assert len(rows) == 1 + 25 + deducted
    assert sum(delta for delta, _ in rows) == final
    # Serialised: each row starts where the previous one ended, and none went below zero.
    running = 0
    for delta, after in rows:
        running += delta
        assert after == running and after >= 0
    assert tokens_check() == []


def test_concurrent_retries_of_one_reference_apply_once(committed_app):
    user_id = make_user().id
    db.session.commit()

    def grant() -> Any:
        return tokens_grant(
            user_id=user_id, amount=4, reason="invoice", actor=SYSTEM, reference="in_race"
        )

    results = race(committed_app, [grant] * 10)

    assert [type(r).__name__ for r in results] == ["TokenChange"] * 10
    assert sum(r.applied for r in results) == 1
    assert ledger_rows(user_id) == [(4, 4)]
    assert tokens_check() == []


def test_a_bulk_grant_racing_single_changes_books_every_opening_balance_once(committed_app):
    user_ids = [make_user(tokens=3).id for _ in range(20)]  # adopted balances, no ledger yet
    db.session.commit()

    def bulk() -> Any:
        return tokens_grant_bulk(user_filter=sa.true(), amount=5, reason="promo", actor=SYSTEM)

    def single(user_id: str) -> Callable[[], Any]:
        return lambda: tokens_deduct(user_id=user_id, amount=1, reason="use", actor=SYSTEM)

    results = race(committed_app, [bulk] + [single(u) for u in user_ids])

    assert [r for r in results if isinstance(r, Exception)] == []
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(User.tokens))) == {7}
    openings = db.session.scalar(
        sa.select(sa.func.count()).where(TokenLedgerEntry.kind == LedgerKind.OPENING_BALANCE)
    )
    assert openings == 20
    assert tokens_check() == []
