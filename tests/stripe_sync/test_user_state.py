"""Subscriptions -> user role, membership status and tokens (properties 14-16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import TokenLedgerEntry, User, UserRole, UserSubscription, utcnow
from dashboard.services.membership import membership_recompute_many_in_transaction
from dashboard.services.stripe.mapping import ts
from dashboard.services.stripe.resync import stripe_resync
from tests.fakes.stripe_objects import DAY
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, stripe_settings, user_state

CLI = Actor.system("cli")

RULE = [
    ("active", ("PREMIUM", "ACTIVE")),
    ("trialing", ("PREMIUM", "ACTIVE")),
    ("past_due", ("PREMIUM", "PAST_DUE")),
    ("unpaid", ("PREMIUM", "PAST_DUE")),
    ("canceled", ("USER", "CANCELED")),
    ("incomplete_expired", ("USER", "CANCELED")),
    ("incomplete", ("USER", "INACTIVE")),
    ("paused", ("USER", "INACTIVE")),
]


@pytest.mark.parametrize("status, expected", RULE)
def test_p14_role_and_status_follow_the_rule_for_every_subscription_status(
    stripe_app, fake_stripe, client, status, expected
):
    world = build_world(fake_stripe, status=status, invoice=False)
    event = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    assert deliver(client, event).status_code == 200

    role, membership, product, _ = user_state(world.user.id)
    assert (role, membership) == expected
    assert product == (world.product["id"] if role == "PREMIUM" else None)
    # The rule is a pure function of the stored rows: recomputing changes nothing.
    assert membership_recompute_many_in_transaction(user_ids=[world.user.id], actor=CLI) == 0
    assert user_state(world.user.id)[:2] == expected


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (("canceled", "active"), ("PREMIUM", "ACTIVE")),
        (("canceled", "past_due"), ("PREMIUM", "PAST_DUE")),
        (("incomplete_expired", "incomplete"), ("USER", "CANCELED")),
    ],
)
def test_p14_the_best_subscription_decides(stripe_app, fake_stripe, client, statuses, expected):
    world = build_world(fake_stripe, status=statuses[0], invoice=False)
    other = fake_stripe.add_subscription(world.customer, world.price, status=statuses[1])
    for sub in (world.subscription, other):
        assert (
            deliver(
                client, fake_stripe.event("customer.subscription.updated", sub["id"])
            ).status_code
            == 200
        )
    assert user_state(world.user.id)[:2] == expected


@pytest.mark.parametrize("role", [UserRole.ADMIN, UserRole.BANNED])
@pytest.mark.parametrize("status", ["active", "canceled"])
def test_p14_admin_and_banned_users_are_never_changed(
    stripe_app, fake_stripe, client, role, status
):
    world = build_world(fake_stripe, status=status, invoice=False, role=role)
    assert (
        deliver(
            client, fake_stripe.event("customer.subscription.created", world.subscription["id"])
        ).status_code
        == 200
    )
    user = db.session.get(User, world.user.id, populate_existing=True)
    assert (user.role, user.membership_status.value) == (role, "ACTIVE")


def test_p14_no_subscription_left_means_inactive(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, status="incomplete", invoice=False, role=UserRole.PREMIUM)
    assert (
        deliver(
            client, fake_stripe.event("customer.subscription.created", world.subscription["id"])
        ).status_code
        == 200
    )
    assert user_state(world.user.id)[:3] == ("USER", "INACTIVE", None)


def _ledger() -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(TokenLedgerEntry.reference, TokenLedgerEntry.delta).order_by(TokenLedgerEntry.id)
    )
    return [tuple(row) for row in rows]


def test_p15_a_paid_invoice_grants_the_allowance_once_with_its_period_end(
    stripe_app, fake_stripe, client
):
    world = build_world(fake_stripe, tokens=300)
    paid = fake_stripe.event("invoice.paid", world.invoice["id"])
    period_end = ts(world.invoice["lines"]["data"][0]["period"]["end"])

    assert deliver(client, paid).status_code == 200
    assert deliver(client, dict(paid, id=paid["id"] + "x")).status_code == 200  # a twin event
    stripe_resync(settings=stripe_settings(), actor=CLI)
    stripe_resync(settings=stripe_settings(), actor=CLI)

    assert _ledger() == [(world.invoice["id"], 300)]
    user = db.session.get(User, world.user.id, populate_existing=True)
    assert (user.tokens, user.tokens_expires_at) == (300, period_end)

    # The next period's invoice grants again and moves the expiry.
    start = world.invoice["lines"]["data"][0]["period"]["end"]
    fake_stripe.set_subscription_period(world.subscription["id"], start, start + 30 * DAY)
    renewal = fake_stripe.add_invoice(world.subscription)
    assert deliver(client, fake_stripe.event("invoice.paid", renewal["id"])).status_code == 200
    user = db.session.get(User, world.user.id, populate_existing=True)
    assert (user.tokens, user.tokens_expires_at) == (600, ts(start + 30 * DAY))
    assert len(_ledger()) == 2


def test_p15_unpaid_and_past_period_invoices_grant_nothing(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, invoice=False, tokens=80)
    now = int(utcnow().timestamp())
    old = fake_stripe.add_invoice(world.subscription, period=(now - 60 * DAY, now - 30 * DAY))
    unpaid = fake_stripe.add_invoice(world.subscription, status="open")
    for invoice in (old, unpaid):
        assert (
            deliver(client, fake_stripe.event("invoice.payment_failed", invoice["id"])).status_code
            == 200
        )
    assert _ledger() == [] and user_state(world.user.id)[3] == 0

    # Paid after a retry: the grant follows.
    fake_stripe.update(unpaid["id"], status="paid")
    assert deliver(client, fake_stripe.event("invoice.paid", unpaid["id"])).status_code == 200
    assert _ledger() == [(unpaid["id"], 80)]


@pytest.mark.parametrize("legacy", [False, True], ids=["items.data[0]", "legacy top level"])
def test_p16_the_period_comes_from_the_first_item_or_the_legacy_fields(
    stripe_app, fake_stripe, client, legacy
):
    world = build_world(fake_stripe, invoice=False)
    start = int((utcnow() - timedelta(days=3)).timestamp())
    sub = fake_stripe.add_subscription(
        world.customer, world.price, start=start, end=start + 30 * DAY, legacy=legacy
    )
    assert ("current_period_end" in sub) is legacy
    assert (
        deliver(client, fake_stripe.event("customer.subscription.created", sub["id"])).status_code
        == 200
    )
    row = db.session.scalars(
        sa.select(UserSubscription).where(UserSubscription.stripe_subscription_id == sub["id"])
    ).one()
    assert (row.current_period_start, row.current_period_end) == (ts(start), ts(start + 30 * DAY))
