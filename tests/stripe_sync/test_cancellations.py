"""Cancel / resume a subscription through Stripe (issue 15, item 2), legacy plan items
(item 5) and "Open in Stripe" links (item 4)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, UserSubscription
from dashboard.services.stripe.cancellations import subscription_cancel
from dashboard.services.stripe.links import stripe_dashboard_url
from dashboard.services.stripe.mapping import price_row, subscription_price
from dashboard.services.stripe.resync import stripe_resync
from tests.factories import make_staff, staff_actor
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, stripe_settings, user_state

CLI = Actor.system("cli")


@pytest.fixture
def subscribed(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    stored = db.session.scalars(sa.select(UserSubscription)).one()
    return world, stored, staff_actor(make_staff("SUPPORT"))


def cancel(stored, actor, mode, key="cancel-key-0001"):
    return subscription_cancel(
        subscription_id=stored.id,
        mode=mode,
        reason="Moving to a competitor",
        idempotency_key=key,
        actor=actor,
        settings=stripe_settings(),
    )


def stored_state(stored_id):
    row = db.session.get(UserSubscription, stored_id, populate_existing=True)
    return row.status, row.cancel_at_period_end


def test_cancel_at_period_end_then_resume_then_now_recomputes_the_role(subscribed):
    world, stored, support = subscribed
    result = cancel(stored, support, "period_end")
    assert "will cancel at the end of its period" in result.message
    assert stored_state(stored.id) == ("active", True)
    assert user_state(world.user.id)[:2] == ("PREMIUM", "ACTIVE")

    cancel(stored, support, "resume", key="resume-key-0001")
    assert stored_state(stored.id) == ("active", False)

    cancel(stored, support, "now", key="now-key-00001")
    assert stored_state(stored.id) == ("canceled", False)
    assert user_state(world.user.id)[:2] == ("USER", "CANCELED")
    actions = db.session.scalars(
        sa.select(AuditLog.action)
        .where(AuditLog.target_id == world.user.id, AuditLog.action.like("subscription.%"))
        .order_by(AuditLog.id)
    ).all()
    assert actions == ["subscription.cancel", "subscription.resume", "subscription.cancel"]


def test_the_webhook_after_the_answer_changes_nothing(subscribed, fake_stripe, stripe_app):
    world, stored, support = subscribed
    cancel(stored, support, "period_end")
    before = stored_state(stored.id)
    event = fake_stripe.event("customer.subscription.updated", world.subscription["id"])
    assert deliver(stripe_app.test_client(), event).status_code == 200
    assert stored_state(stored.id) == before == ("active", True)


def test_a_double_submit_changes_stripe_once_and_refusals_write_nothing(subscribed, fake_stripe):
    world, stored, support = subscribed
    cancel(stored, support, "now")
    with pytest.raises(BackofficeError, match="already ended"):
        cancel(stored, support, "now")
    editor = staff_actor(make_staff("EDITOR"))
    with pytest.raises(PermissionDenied):
        cancel(stored, editor, "resume", key="other-key-00001")
    deletes = [r for r in fake_stripe.requests if r[0] == "DELETE"]
    assert len(deletes) == 1


def test_stripe_down_writes_nothing(subscribed, fake_stripe):
    world, stored, support = subscribed
    fake_stripe.inject(
        f"/v1/subscriptions/{world.subscription['id']}", method="POST", status=503, times=10
    )
    with pytest.raises(BackofficeError, match="did not answer"):
        cancel(stored, support, "period_end")
    assert stored_state(stored.id) == ("active", False)


def test_a_legacy_plan_item_is_mirrored_as_the_recurring_price_it_is():
    plan = {
        "id": "plan_gold",
        "object": "plan",
        "amount": 1500,
        "currency": "eur",
        "interval": "year",
        "interval_count": 1,
        "product": "prod_gold",
        "active": True,
    }
    sub = {"id": "sub_1", "items": {"data": [{"id": "si_1", "plan": plan}]}}
    row = price_row(subscription_price(sub))
    assert row == {
        "id": "plan_gold",
        "product_id": "prod_gold",
        "unit_amount": 1500,
        "currency": "eur",
        "interval": "year",
        "interval_count": 1,
        "type": "recurring",
        "active": True,
    }


def test_open_in_stripe_links_follow_the_key_mode():
    assert stripe_dashboard_url("pi_1", livemode=False) == (
        "https://dashboard.stripe.com/test/payments/pi_1"
    )
    assert stripe_dashboard_url("sub_1", livemode=True) == (
        "https://dashboard.stripe.com/subscriptions/sub_1"
    )
    assert stripe_dashboard_url("cus_1", livemode=True).endswith("/customers/cus_1")
    assert stripe_dashboard_url(None, livemode=True) is None
