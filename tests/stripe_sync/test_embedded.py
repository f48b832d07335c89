"""The sync works on the embedded SQLite default as on PostgreSQL: resync, webhook, refresh."""

from __future__ import annotations

import pytest

from dashboard.core.actor import Actor
from dashboard.services.stripe.refresh import stripe_refresh_user
from dashboard.services.stripe.resync import stripe_resync
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, counts, stripe_settings, user_state

pytestmark = pytest.mark.backends("postgresql", "sqlite")
CLI = Actor.system("cli")


def test_resync_webhook_and_refresh_on_each_backend(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, tokens=30)
    orphan = fake_stripe.add_customer("orphan@example.com")

    first = stripe_resync(settings=stripe_settings(), actor=CLI)
    second = stripe_resync(settings=stripe_settings(), actor=CLI)

    assert first.failed == 0 and first.types["payments"].granted == 1
    assert first.types["customers"].skips[0]["id"] == orphan["id"]
    assert all(t.created == 0 and t.updated == 0 for t in second.types.values())
    assert user_state(world.user.id) == ("PREMIUM", "ACTIVE", world.product["id"], 30)

    fake_stripe.update(world.subscription["id"], status="unpaid")
    event = fake_stripe.event("customer.subscription.updated", world.subscription["id"])
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).json["message"].startswith("duplicate")
    assert user_state(world.user.id)[:2] == ("PREMIUM", "PAST_DUE")

    fake_stripe.update(world.subscription["id"], status="canceled")
    assert stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id).refreshed
    assert user_state(world.user.id)[:2] == ("USER", "CANCELED")
    assert counts() == {
        "StripeProduct": 1,
        "StripePrice": 1,
        "StripeCustomer": 1,
        "UserSubscription": 1,
        "PaymentHistory": 1,
        "TokenLedgerEntry": 1,
    }
