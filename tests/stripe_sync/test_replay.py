"""Replaying /v1/events after downtime (property 24)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, StripeEventRecord, utcnow
from dashboard.services.stripe.events import replay_default_since, stripe_events_replay
from dashboard.services.stripe.mapping import ts
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, stripe_settings, user_state


def test_p24_replay_applies_the_missed_events_oldest_first_through_the_same_handler(
    stripe_app, fake_stripe, client, runner
):
    world = build_world(fake_stripe, tokens=25)
    seen = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    assert deliver(client, seen).status_code == 200
    # Downtime: these were emitted but never delivered.
    missed_paid = fake_stripe.event("invoice.paid", world.invoice["id"])
    fake_stripe.update(world.subscription["id"], status="past_due")
    missed_update = fake_stripe.event("customer.subscription.updated", world.subscription["id"])

    since = ts(seen["created"]).strftime("%Y-%m-%d %H:%M")
    result = runner.invoke(args=["stripe", "replay-events", "--since", since])

    assert result.exit_code == 0, result.output
    assert "3 event(s) since" in result.output
    assert "2 applied, 1 already processed, 0 failed" in result.output
    assert user_state(world.user.id) == ("PREMIUM", "PAST_DUE", world.product["id"], 25)
    rows = db.session.scalars(
        sa.select(StripeEventRecord).order_by(StripeEventRecord.processed_at)
    ).all()
    assert [(r.id, r.source) for r in rows] == [
        (seen["id"], "webhook"),
        (missed_paid["id"], "events-api"),
        (missed_update["id"], "events-api"),
    ]
    assert db.session.scalars(sa.select(AuditLog.action)).all()[-1] == "stripe.events_replay"

    # Running it again finds nothing new.
    again = stripe_events_replay(
        settings=stripe_settings(), since=ts(seen["created"]), actor=Actor.system("cli")
    )
    assert (again.seen, again.applied, again.already_processed) == (3, 0, 3)


def test_p24_the_default_start_is_shortly_before_the_newest_processed_event(
    stripe_app, fake_stripe, client, runner
):
    assert replay_default_since() is None
    refused = runner.invoke(args=["stripe", "replay-events"])
    assert refused.exit_code != 0 and "give --since DATE" in refused.output

    world = build_world(fake_stripe, invoice=False)
    event = fake_stripe.event("customer.subscription.created", world.subscription["id"])
    assert deliver(client, event).status_code == 200
    assert replay_default_since() == ts(event["created"]) - timedelta(hours=1)
    result = runner.invoke(args=["stripe", "replay-events"])
    assert result.exit_code == 0 and "1 already processed" in result.output


def test_p24_events_older_than_stripe_keeps_are_warned_about(stripe_app, fake_stripe, runner):
    old = (utcnow() - timedelta(days=40)).strftime("%Y-%m-%d")
    result = runner.invoke(args=["stripe", "replay-events", "--since", old])
    assert result.exit_code == 0
    assert "Stripe keeps events for 30 days" in result.output
