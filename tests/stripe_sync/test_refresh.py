"""On-access refresh of a user's subscriptions and the scheduled catalog refresh
(properties 13 and 17)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import run_pending_jobs
from dashboard.models import Job, JobStatus, StripeProduct, UserSubscription
from dashboard.services.stripe.refresh import stripe_catalog_refresh_request, stripe_refresh_user
from dashboard.services.stripe.resync import stripe_resync
from tests.factories import make_user
from tests.stripe_sync.world import build_world, stripe_settings, user_state

CLI = Actor.system("cli")


def _calls(fake) -> int:  # noqa: ANN001
    return sum(1 for _, path, _ in fake.requests if path.startswith("/v1/subscriptions"))


def _status(sub_id: str) -> str:
    return db.session.scalars(
        sa.select(UserSubscription.status)
        .where(UserSubscription.stripe_subscription_id == sub_id)
        .execution_options(populate_existing=True)
    ).one()


def test_p17_refreshes_when_stale_then_rate_limits_per_user(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    fake_stripe.update(world.subscription["id"], status="past_due")
    before = _calls(fake_stripe)

    first = stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id)

    assert first.refreshed and not first.stale
    assert first.message.startswith("Refreshed from Stripe at")
    assert _status(world.subscription["id"]) == "past_due"
    assert user_state(world.user.id)[:2] == ("PREMIUM", "PAST_DUE")  # same upserts as webhooks
    assert _calls(fake_stripe) == before + 1

    fake_stripe.update(world.subscription["id"], status="canceled")
    again = stripe_refresh_user(
        settings=stripe_settings(), user_id=world.user.id
    )  # within 10 minutes: no Stripe call
    assert not again.refreshed and again.message.startswith("Data from Stripe as of")
    assert _calls(fake_stripe) == before + 1 and _status(world.subscription["id"]) == "past_due"

    forced = stripe_refresh_user(
        settings=stripe_settings(), user_id=world.user.id, max_age=0
    )  # "Sync from Stripe"
    assert forced.refreshed and _status(world.subscription["id"]) == "canceled"


def test_p17_stripe_down_or_slow_serves_stored_data_and_says_so(
    stripe_app, fake_stripe, monkeypatch
):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    monkeypatch.setitem(stripe_app.config, "STRIPE_REFRESH_TIMEOUT", 0.3)
    fake_stripe.update(world.subscription["id"], status="canceled")
    fake_stripe.inject("/v1/subscriptions", delay=1.0, times=1)

    started = time.monotonic()
    slow = stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id)

    assert time.monotonic() - started < 1.0  # no retries, short timeout
    assert slow.stale and not slow.refreshed
    assert slow.message.startswith("Stripe unreachable, showing data from ")
    assert _status(world.subscription["id"]) == "active"

    fake_stripe.inject("/v1/subscriptions", status=500, times=1)
    down = stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id, max_age=0)
    assert down.stale and "Stripe unreachable" in down.message
    # Asking again within the window does not hammer Stripe, and still says it is stale.
    calls = _calls(fake_stripe)
    assert (
        stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id).stale
        and _calls(fake_stripe) == calls
    )


def test_p17_a_user_without_a_stripe_customer(stripe_app, fake_stripe):
    user = make_user()
    db.session.commit()
    freshness = stripe_refresh_user(settings=stripe_settings(), user_id=user.id)
    assert freshness.message == "This user has no Stripe customer." and not freshness.stale
    assert [(path, params) for _, path, params in fake_stripe.requests] == [
        ("/v1/customers", {"email": user.email, "limit": "100"})
    ]


def test_p17_a_customer_not_linked_yet_is_found_by_email(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False, link_by="email")
    freshness = stripe_refresh_user(settings=stripe_settings(), user_id=world.user.id)
    assert freshness.refreshed
    assert user_state(world.user.id)[:3] == ("PREMIUM", "ACTIVE", world.product["id"])


def test_p17_stripe_not_configured_is_said_plainly(stripe_app, monkeypatch):
    user = make_user()
    db.session.commit()
    monkeypatch.setitem(stripe_app.config, "STRIPE_SECRET_KEY", None)
    freshness = stripe_refresh_user(settings=stripe_settings(), user_id=user.id)
    assert freshness.stale
    assert freshness.message == (
        "Stripe is not configured: set STRIPE_SECRET_KEY. Showing data from the last sync."
    )


def test_p13_the_catalog_refresh_is_queued_once_per_interval_and_runs_the_resync(
    committed_stripe_app, fake_stripe
):
    world = build_world(fake_stripe, invoice=False)
    fake_stripe.update(world.product["id"], name="Pro (new name)")
    scheduler = Actor.system("scheduler")
    at = 1_000_000.0

    first = stripe_catalog_refresh_request(settings=stripe_settings(), actor=scheduler, at=at)
    twin = stripe_catalog_refresh_request(
        settings=stripe_settings(), actor=scheduler, at=at + 10
    )  # another worker
    later = stripe_catalog_refresh_request(settings=stripe_settings(), actor=scheduler, at=at + 300)

    assert first is not None and twin is None and later is not None
    run_pending_jobs(committed_stripe_app)
    jobs = db.session.scalars(sa.select(Job).execution_options(populate_existing=True)).all()
    assert [job.status for job in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    assert set(jobs[0].result["types"]) == {"products", "prices"}
    assert (jobs[0].progress, jobs[0].requested_by_label) == (100, "scheduler")
    assert db.session.get(StripeProduct, world.product["id"]).name == "Pro (new name)"


def test_p22_a_scheduled_refresh_steps_aside_and_a_requested_resync_waits(
    committed_stripe_app, fake_stripe, monkeypatch
):
    from dashboard.services.stripe import resync_jobs as stripe_jobs
    from dashboard.services.stripe.resync import LOCK_KEY, stripe_resync_request

    build_world(fake_stripe, invoice=False)
    monkeypatch.setattr(stripe_jobs, "LOCK_WAIT_SECONDS", 0.01)
    monkeypatch.setattr(stripe_jobs, "LOCK_ATTEMPTS", 3)
    scheduled = stripe_catalog_refresh_request(
        settings=stripe_settings(), actor=Actor.system("scheduler")
    )
    requested = stripe_resync_request(settings=stripe_settings(), actor=CLI, only=["products"])
    with db.engine.connect() as holder:  # another resync holds the lock
        holder.execute(sa.select(sa.func.pg_advisory_lock(LOCK_KEY)))
        try:
            run_pending_jobs(committed_stripe_app)
        finally:
            holder.execute(sa.select(sa.func.pg_advisory_unlock_all()))

    db.session.expire_all()
    skipped, failed = db.session.get(Job, scheduled.id), db.session.get(Job, requested.id)
    assert skipped.status == JobStatus.SUCCEEDED and "already running" in skipped.result["skipped"]
    assert failed.status == JobStatus.FAILED and "already running" in failed.error
    assert db.session.get(StripeProduct, next(iter(fake_stripe.store.objects["products"]))) is None
