"""Database commands: reset-db and seed-demo."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import (
    Account,
    BlogPost,
    MembershipStatus,
    PaymentHistory,
    Session,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    User,
    UserRole,
    UserSubscription,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def counts() -> dict[str, int]:
    db.session.close()  # read what the commands committed, not an older snapshot
    try:
        return _counts()
    finally:
        db.session.close()  # and hold no lock a command (seed-demo's DROP INDEX) waits for


def _counts() -> dict[str, int]:
    models = (
        User,
        Account,
        Session,
        StripeCustomer,
        UserSubscription,
        PaymentHistory,
        BlogPost,
        StripeProduct,
        StripePrice,
    )
    return {
        m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in models
    }


def snapshot() -> list[tuple]:
    db.session.close()
    rows = db.session.execute(
        sa.select(User.id, User.email, User.role, User.tokens, User.created_at).order_by(User.id)
    ).all()
    db.session.close()
    return rows


def test_seed_demo_creates_realistic_consistent_data(committed_app):
    runner = committed_app.test_cli_runner()
    result = runner.invoke(
        args=["seed-demo", "--users", "400", "--seed", "7", "--as-of", "2026-06-01"]
    )
    assert result.exit_code == 0, result.output
    assert "400/400 users" in result.output  # progress is printed
    numbers = counts()
    assert numbers["User"] == 400
    assert 2.0 <= numbers["PaymentHistory"] / 400 <= 4.0
    assert all(numbers[name] > 0 for name in numbers), numbers

    roles = set(db.session.scalars(sa.select(User.role).distinct()))
    statuses = set(db.session.scalars(sa.select(User.membership_status).distinct()))
    assert roles == set(UserRole) and statuses == set(MembershipStatus)
    sub_statuses = set(db.session.scalars(sa.select(UserSubscription.status).distinct()))
    assert {"active", "trialing", "past_due", "canceled", "unpaid"} <= sub_statuses
    pay_statuses = set(db.session.scalars(sa.select(PaymentHistory.status).distinct()))
    assert pay_statuses == {"succeeded", "failed", "refunded"}
    intervals = set(db.session.scalars(sa.select(StripePrice.interval).distinct()))
    assert {"month", "year"} <= intervals
    published = set(db.session.scalars(sa.select(BlogPost.is_published).distinct()))
    assert published == {True, False}
    # Every PREMIUM user (by the sync's rule) has a live subscription.
    premium_without = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(
            User.role == UserRole.PREMIUM,
            ~sa.exists().where(
                UserSubscription.user_id == User.id,
                UserSubscription.status.in_(["active", "trialing", "past_due", "unpaid"]),
            ),
        )
    )
    assert premium_without == 0

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code != 0 and "already has users" in again.output


def test_seed_demo_is_deterministic(committed_app):
    runner = committed_app.test_cli_runner()
    args = ["seed-demo", "--users", "150", "--seed", "3", "--as-of", "2026-01-15"]
    assert runner.invoke(args=args).exit_code == 0
    first = snapshot()
    result = runner.invoke(args=["reset-db", "--yes"])
    assert result.exit_code == 0, result.output
    assert counts()["User"] == 0
    assert runner.invoke(args=args).exit_code == 0
    assert snapshot() == first
    assert first[0][4] <= datetime(2026, 1, 15)


def test_reset_db_asks_before_deleting(committed_app):
    runner = committed_app.test_cli_runner()
    runner.invoke(args=["seed-demo", "--users", "20"])
    declined = runner.invoke(args=["reset-db"], input="n\n")
    assert declined.exit_code != 0 and "Continue?" in declined.output
    assert counts()["User"] == 20
    accepted = runner.invoke(args=["reset-db"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert counts()["User"] == 0


def test_reset_db_refuses_production_without_both_flags(committed_app, monkeypatch):
    runner = committed_app.test_cli_runner()
    runner.invoke(args=["seed-demo", "--users", "10"])
    monkeypatch.setitem(committed_app.config, "ENV_NAME", "production")
    for args in (["reset-db"], ["reset-db", "--yes"], ["reset-db", "--i-know-this-is-production"]):
        result = runner.invoke(args=args, input="y\n")
        assert result.exit_code != 0
        assert "refusing to reset a production database" in result.output
    assert counts()["User"] == 10
    result = runner.invoke(args=["reset-db", "--yes", "--i-know-this-is-production"])
    assert result.exit_code == 0, result.output
    assert counts()["User"] == 0


@pytest.mark.backends("postgresql")
def test_seed_demo_rebuilds_every_index_it_sets_aside(committed_app):
    def index_definitions() -> set[str]:
        db.session.close()
        return set(
            db.session.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            ).scalars()
        )

    before = index_definitions()
    result = committed_app.test_cli_runner().invoke(args=["seed-demo", "--users", "50"])
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output
    assert index_definitions() == before


@pytest.mark.backends("postgresql")
def test_seed_demo_says_so_when_another_connection_holds_the_tables(committed_app, monkeypatch):
    import dashboard.demo.loader

    monkeypatch.setattr(dashboard.demo.loader, "LOCK_TIMEOUT_MS", 200)
    with db.engine.connect() as other:
        other.execute(sa.text('SELECT count(*) FROM "PaymentHistory"'))  # holds a read lock
        result = committed_app.test_cli_runner().invoke(args=["seed-demo", "--users", "5"])
        other.rollback()
    assert result.exit_code != 0
    assert "another connection is using the tables" in result.output
    assert counts()["User"] == 0
