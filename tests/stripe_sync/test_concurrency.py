"""Concurrent deliveries and webhooks during a resync, with real commits on PostgreSQL
(properties 10, 13 and 22)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import (
    PaymentHistory,
    StripeEventRecord,
    StripePrice,
    TokenLedgerEntry,
    UserSubscription,
)
from dashboard.services.stripe.resync import stripe_resync
from tests.stripe_sync.conftest import signed
from tests.stripe_sync.world import build_world, stripe_settings, user_state

CLI = Actor.system("cli")


def _post_all(app, bodies: list[tuple[str, dict]]) -> list[int]:  # noqa: ANN001
    """Post every (body, headers) at the same moment, each from its own thread."""
    start = threading.Barrier(len(bodies))

    def post(item: tuple[str, dict]) -> int:
        client = app.test_client()
        start.wait()
        return client.post("/webhooks/stripe", data=item[0], headers=item[1]).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_p10_the_same_event_delivered_ten_times_at_once_has_one_effect(
    committed_stripe_app, fake_stripe
):
    world = build_world(fake_stripe, tokens=60)
    event = fake_stripe.event("invoice.paid", world.invoice["id"])
    delivery = signed(event)

    statuses = _post_all(committed_stripe_app, [delivery] * 10)

    assert statuses == [200] * 10
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentHistory)) == 1
    assert db.session.scalars(sa.select(TokenLedgerEntry.reference)).all() == [world.invoice["id"]]
    assert user_state(world.user.id)[3] == 60
    row = db.session.get(StripeEventRecord, event["id"])
    assert row.attempts == 10 and row.processed_at is not None and row.error is None


def test_p10_different_events_for_one_subscription_at_once_raise_no_unique_key_error(
    committed_stripe_app, fake_stripe
):
    world = build_world(fake_stripe, invoice=False)
    sub_id = world.subscription["id"]
    events = [
        fake_stripe.event("customer.subscription.created", sub_id),
        fake_stripe.event("customer.subscription.updated", sub_id),
        fake_stripe.event("customer.subscription.updated", sub_id),
        fake_stripe.event("customer.created", world.customer["id"]),
    ]

    statuses = _post_all(committed_stripe_app, [signed(e) for e in events])

    assert statuses == [200] * 4
    db.session.expire_all()
    errors = db.session.scalars(sa.select(StripeEventRecord.error)).all()
    assert errors == [None] * 4
    assert db.session.scalars(sa.select(UserSubscription.stripe_subscription_id)).all() == [sub_id]
    assert user_state(world.user.id)[:2] == ("PREMIUM", "ACTIVE")


def test_p22_a_webhook_during_a_resync_is_not_overwritten_by_older_listing_data(
    committed_stripe_app, fake_stripe
):
    world = build_world(fake_stripe, invoice=False)
    sub_id = world.subscription["id"]
    client = committed_stripe_app.test_client()
    answers = []

    def cancel_while_stripe_answers() -> None:
        # The listing page (status "active") is computed; before it reaches Backoffice the
        # customer cancels and the webhook is processed (it re-fetches: "canceled").
        fake_stripe.update(sub_id, status="canceled")
        body, headers = signed(fake_stripe.event("customer.subscription.deleted", sub_id))
        with committed_stripe_app.app_context():
            answers.append(client.post("/webhooks/stripe", data=body, headers=headers).status_code)

    fake_stripe.on_request("/v1/subscriptions", cancel_while_stripe_answers)
    report = stripe_resync(
        settings=stripe_settings(), actor=CLI, only=["customers", "subscriptions"]
    )

    assert answers == [200]
    assert report.types["subscriptions"].created == 0  # the older listing row lost
    db.session.expire_all()
    status = db.session.scalars(sa.select(UserSubscription.status)).one()
    assert status == "canceled"
    assert user_state(world.user.id)[:2] == ("USER", "CANCELED")


def test_p13_a_stale_catalog_refresh_never_reactivates_an_archived_price(
    committed_stripe_app, fake_stripe
):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI, only=["products", "prices"])
    client = committed_stripe_app.test_client()

    def archive_while_stripe_answers() -> None:
        fake_stripe.update(world.price["id"], active=False)
        body, headers = signed(fake_stripe.event("price.updated", world.price["id"]))
        with committed_stripe_app.app_context():
            assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200

    fake_stripe.on_request("/v1/prices", archive_while_stripe_answers)
    stripe_resync(
        settings=stripe_settings(), actor=CLI, only=["products", "prices"]
    )  # its page still says active

    db.session.expire_all()
    assert db.session.get(StripePrice, world.price["id"]).active is False
    # The next refresh reads the archived price itself: still inactive, nothing to change.
    report = stripe_resync(settings=stripe_settings(), actor=CLI, only=["prices"])
    assert report.types["prices"].updated == 0
    assert db.session.get(StripePrice, world.price["id"]).active is False
