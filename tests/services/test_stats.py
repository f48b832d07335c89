"""The home dashboard's figures are right."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.models import MembershipStatus, UserRole, utcnow
from dashboard.services.stats import monthly_amount, stats_dashboard
from tests.factories import make_post, make_price, make_product, make_subscription, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def test_figures_count_what_the_tables_hold(app):
    now = utcnow()
    product = make_product(name="Pro")
    monthly = make_price(product, unit_amount=3000, interval="month")
    yearly = make_price(product, unit_amount=12000, interval="year")
    alice = make_user(
        role=UserRole.PREMIUM,
        membership_status=MembershipStatus.ACTIVE,
        tokens=10,
        tokens_expires_at=now + timedelta(days=3),
    )
    bob = make_user(
        role=UserRole.PREMIUM,
        membership_status=MembershipStatus.PAST_DUE,
        tokens=5,
        tokens_expires_at=now + timedelta(days=30),
    )
    carol = make_user(created_at=now - timedelta(days=40))
    make_subscription(alice, monthly, status="active")
    make_subscription(bob, yearly, status="past_due")
    make_subscription(carol, monthly, status="trialing")
    make_subscription(carol, monthly, status="canceled")
    make_post(alice, is_published=False)
    make_post(alice, is_published=True, published_at=now - timedelta(days=1), slug="a")

    figures = stats_dashboard(max_age_seconds=0, now=now)

    assert figures.users_by_role["PREMIUM"] == 2 and figures.users_by_role["USER"] == 1
    assert figures.users_by_membership["PAST_DUE"] == 1
    assert figures.total_users == 3
    assert sum(count for _day, count in figures.signups_per_day) == 2  # carol is older
    assert len(figures.signups_per_day) == 30
    [pro] = figures.subscriptions_by_product
    assert pro["active"] == 3  # active + past_due + trialing; not canceled
    assert pro["mrr_cents"] == 3000 + 1000  # trial pays nothing yet; yearly /12
    assert figures.tokens == {"outstanding": 15, "expiring_users": 1, "expiring_tokens": 10}
    assert figures.posts["drafts"] == 1
    assert sum(count for _week, count in figures.published_per_week) == 1


@pytest.mark.parametrize(
    "amount, interval, count, expected",
    [
        (1200, "year", 1, 100),
        (1000, "month", 1, 1000),
        (1000, "month", 3, 1000 / 3),
        (500, None, None, 0),
        (None, "month", 1, 0),
    ],
)
def test_monthly_amount_normalises_intervals(amount, interval, count, expected):
    assert monthly_amount(amount, interval, count) == pytest.approx(expected)
