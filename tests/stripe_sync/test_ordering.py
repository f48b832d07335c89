"""Idempotency and ordering of webhook effects (properties 5-9, 11)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import (
    PaymentHistory,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    StripeSyncMark,
    TokenLedgerEntry,
    UserSubscription,
)
from dashboard.services.stripe.events import stripe_event_replay
from dashboard.services.stripe.gateway import now_micros
from dashboard.services.stripe.store import upsert_rows
from dashboard.services.stripe.sync import SUBSCRIPTIONS
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, counts, stripe_settings, user_state

ADMIN = Actor(label="staff:admin@example.com", staff_id="staff-1", role="ADMIN")


def _subscription(world_id: str) -> UserSubscription:
    return db.session.scalars(
        sa.select(UserSubscription)
        .where(UserSubscription.stripe_subscription_id == world_id)
        .execution_options(populate_existing=True)
    ).one()


def test_p05_replaying_an_event_any_number_of_times_changes_nothing(
    stripe_app, fake_stripe, client
):
    world = build_world(fake_stripe, tokens=120)
    created = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    paid = fake_stripe.event("invoice.paid", world.invoice["id"])
    assert deliver(client, created).status_code == 200
    assert deliver(client, paid).status_code == 200
    before = (counts(), user_state(world.user.id))
    assert before[1] == ("PREMIUM", "ACTIVE", world.product["id"], 120)

    for _ in range(3):
        assert deliver(client, paid).status_code == 200
        assert deliver(client, created).status_code == 200
    stripe_event_replay(settings=stripe_settings(), event_id=paid["id"], actor=ADMIN)
    stripe_event_replay(settings=stripe_settings(), event_id=created["id"], actor=ADMIN)

    assert (counts(), user_state(world.user.id)) == before


def test_p06_two_events_for_one_change_have_one_effect(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, tokens=75)
    payment = fake_stripe.get(world.invoice["_payments"][0])
    intent_id = payment["payment"]["payment_intent"]
    for event_type, object_id in [
        ("invoice.paid", world.invoice["id"]),
        ("invoice.payment_succeeded", world.invoice["id"]),
        ("invoice_payment.paid", payment["id"]),
        ("payment_intent.succeeded", intent_id),
    ]:
        assert deliver(client, fake_stripe.event(event_type, object_id)).status_code == 200

    payments = db.session.scalars(sa.select(PaymentHistory)).all()
    assert [(p.stripe_payment_intent_id, p.status) for p in payments] == [(intent_id, "succeeded")]
    grants = db.session.scalars(sa.select(TokenLedgerEntry.reference)).all()
    assert grants == [world.invoice["id"]]
    assert user_state(world.user.id)[3] == 75


def test_p07_an_older_event_never_overwrites_newer_state_even_in_the_same_second(
    stripe_app, fake_stripe, client
):
    world = build_world(fake_stripe, invoice=False)
    second = fake_stripe.tick()
    older = fake_stripe.event(
        "customer.subscription.updated", world.subscription["id"], created=second
    )  # payload: active
    fake_stripe.update(world.subscription["id"], status="past_due")
    newer = fake_stripe.event(
        "customer.subscription.updated", world.subscription["id"], created=second
    )  # payload: past_due, same second
    assert older["created"] == newer["created"]

    assert deliver(client, newer).status_code == 200
    assert deliver(client, older).status_code == 200  # arrives last

    assert _subscription(world.subscription["id"]).status == "past_due"
    assert user_state(world.user.id)[:2] == ("PREMIUM", "PAST_DUE")


def test_p07_a_write_read_earlier_loses_to_one_read_later(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, invoice=False)
    read_early = now_micros()
    assert (
        deliver(
            client, fake_stripe.event("customer.subscription.created", world.subscription["id"])
        ).status_code
        == 200
    )
    row = _subscription(world.subscription["id"])
    stale = {
        "stripe_subscription_id": row.stripe_subscription_id,
        "user_id": row.user_id,
        "stripe_product_id": row.stripe_product_id,
        "stripe_price_id": row.stripe_price_id,
        "status": "canceled",
        "current_period_start": row.current_period_start,
        "current_period_end": row.current_period_end,
        "cancel_at_period_end": False,
        "id": "ignored",
    }

    outcome = upsert_rows(SUBSCRIPTIONS, "subscription", [stale], read_early)

    assert outcome.stale == [row.stripe_subscription_id] and outcome.written == []
    assert _subscription(world.subscription["id"]).status == "active"
    mark = db.session.get(StripeSyncMark, row.stripe_subscription_id)
    assert mark.fetched_at > read_early


def _target(world, fake, kind: str) -> str:  # noqa: ANN001
    if kind == "subscription":
        return world.subscription["id"]
    if kind == "invoice":
        return world.invoice["id"]
    if kind == "payment_intent":
        return fake.get(world.invoice["_payments"][0])["payment"]["payment_intent"]
    return world.customer["id"]


@pytest.mark.parametrize(
    "event_type, kind",
    [
        ("customer.subscription.updated", "subscription"),
        ("invoice.paid", "invoice"),
        ("payment_intent.succeeded", "payment_intent"),
        ("customer.updated", "customer"),
    ],
)
def test_p08_an_object_already_gone_on_stripe_does_not_crash(
    stripe_app, fake_stripe, client, event_type, kind
):
    world = build_world(fake_stripe)
    object_id = _target(world, fake_stripe, kind)
    event = fake_stripe.event(event_type, object_id)
    fake_stripe.delete(object_id)

    response = deliver(client, event)

    assert response.status_code == 200, response.json
    message = response.json["message"]
    assert "gone on Stripe" in message or "deleted on Stripe" in message
    assert counts()["UserSubscription"] == 0 and counts()["PaymentHistory"] == 0


def test_p09_a_deletion_before_the_create_is_not_undone(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, invoice=False)
    created = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    fake_stripe.update(world.subscription["id"], status="canceled")
    deleted = fake_stripe.event("customer.subscription.deleted", world.subscription["id"])

    assert deliver(client, deleted).status_code == 200
    assert deliver(client, created).status_code == 200  # late, payload says "active"

    assert _subscription(world.subscription["id"]).status == "canceled"
    assert user_state(world.user.id)[:2] == ("USER", "CANCELED")


def test_p09_a_product_deleted_before_its_create_stays_inactive(stripe_app, fake_stripe, client):
    product = fake_stripe.add_product("Old plan")
    created = fake_stripe.event("product.created", product["id"])
    assert deliver(client, created).status_code == 200
    deleted = fake_stripe.event("product.deleted", product["id"])
    fake_stripe.delete(product["id"])

    assert deliver(client, deleted).status_code == 200
    late_twin = dict(created, id=created["id"] + "b")  # Stripe sends "created" again, late
    assert deliver(client, late_twin).status_code == 200

    row = db.session.get(StripeProduct, product["id"], populate_existing=True)
    assert row is not None and row.active is False


def test_p11_missing_dependencies_are_fetched_on_demand(stripe_app, fake_stripe, client):
    world = build_world(fake_stripe, tokens=40)
    assert counts()["StripeCustomer"] == 0 and counts()["StripeProduct"] == 0

    # The invoice arrives before anything else: customer, product fetched and linked.
    assert (
        deliver(client, fake_stripe.event("invoice.paid", world.invoice["id"])).status_code == 200
    )
    link = db.session.scalars(sa.select(StripeCustomer)).one()
    assert (link.user_id, link.stripe_customer_id) == (world.user.id, world.customer["id"])
    assert db.session.get(StripeProduct, world.product["id"]).tokens == 40
    assert user_state(world.user.id)[3] == 40

    # A subscription whose price is unknown locally: the price comes with it.
    event = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    assert deliver(client, event).status_code == 200
    assert db.session.get(StripePrice, world.price["id"]) is not None
    assert user_state(world.user.id)[:3] == ("PREMIUM", "ACTIVE", world.product["id"])
