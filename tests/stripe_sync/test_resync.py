"""Full resync (properties 12, 18-22) and its command."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import Conflict
from dashboard.extensions import db
from dashboard.models import (
    AuditLog,
    PaymentHistory,
    StripePrice,
    StripeProduct,
    StripeUnlinkedCustomer,
    UserSubscription,
)
from dashboard.services.stripe import gateway as stripe_gateway
from dashboard.services.stripe.resync import LOCK_KEY, stripe_resync, stripe_resync_request
from tests.conftest import configured_test_database_url, engine_for
from tests.factories import make_price, make_product, make_subscription, make_user
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, counts, stripe_settings, user_state

CLI = Actor.system("cli")


def _world_with_history(fake):  # noqa: ANN001, ANN202
    """Two customers, archived and active catalog, subscriptions in every state."""
    world = build_world(fake, tokens=10)
    archived = fake.add_product("Legacy", tokens=5, active=False)
    old_price = fake.add_price(archived, unit_amount=400, active=False)
    fake.add_price(world.product, unit_amount=9000, interval="year")
    other = make_user()
    db.session.commit()
    customer = fake.add_customer(other.email)  # linked by email
    for status in ("canceled", "incomplete_expired", "active"):
        fake.add_subscription(
            customer, old_price if status != "active" else world.price, status=status
        )
    return world, other


def test_p18_walks_every_page_archived_products_prices_and_all_statuses(
    stripe_app, fake_stripe, monkeypatch
):
    monkeypatch.setattr(stripe_gateway, "PAGE_SIZE", 2)  # many pages from a small world
    world, other = _world_with_history(fake_stripe)

    report = stripe_resync(settings=stripe_settings(), actor=CLI)

    assert report.failed == 0, report.to_dict()
    assert counts()["StripeProduct"] == 2 and counts()["StripePrice"] == 3
    statuses = sorted(db.session.scalars(sa.select(UserSubscription.status)))
    assert statuses == ["active", "active", "canceled", "incomplete_expired"]
    listed = [p for m, path, p in fake_stripe.requests if path == "/v1/subscriptions"]
    assert all(p.get("status") == "all" for p in listed)
    assert any("starting_after" in p for p in listed)
    assert not any("active" in p for m, path, p in fake_stripe.requests if path == "/v1/products")
    assert user_state(other.id)[:2] == ("PREMIUM", "ACTIVE")


def test_p19_idempotent_with_a_report_per_type(stripe_app, fake_stripe):
    _world_with_history(fake_stripe)
    first = stripe_resync(settings=stripe_settings(), actor=CLI).to_dict()["types"]
    assert {k: v["created"] for k, v in first.items()} == {
        "products": 2,
        "prices": 3,
        "customers": 2,
        "subscriptions": 4,
        "payments": 1,
    }
    assert first["payments"]["granted"] == 1

    second = stripe_resync(settings=stripe_settings(), actor=CLI).to_dict()["types"]

    assert all(v["created"] == 0 and v["updated"] == 0 for v in second.values()), second
    assert {k: v["unchanged"] for k, v in second.items()} == {
        "products": 2,
        "prices": 3,
        "customers": 2,
        "subscriptions": 4,
        "payments": 1,
    }
    assert second["payments"]["granted"] == 0
    audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "stripe.resync")).all()
    assert len(audits) == 2 and audits[0].details["types"]["products"]["created"] == 2


def test_p19_a_dry_run_reports_and_writes_nothing(stripe_app, fake_stripe, runner):
    _world_with_history(fake_stripe)
    before = counts()
    result = runner.invoke(args=["sync-stripe", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written" in result.output
    assert "subscriptions" in result.output and "granted" in result.output
    assert counts() == before
    assert db.session.scalars(sa.select(AuditLog.action)).all() == ["stripe.resync"]


def test_p19_only_syncs_the_types_asked_for(stripe_app, fake_stripe, runner):
    _world_with_history(fake_stripe)
    result = runner.invoke(args=["sync-stripe", "--only", "products,prices"])
    assert result.exit_code == 0, result.output
    assert counts()["StripePrice"] == 3 and counts()["UserSubscription"] == 0
    bad = runner.invoke(args=["sync-stripe", "--only", "products,coupons"])
    assert bad.exit_code != 0 and "Unknown type(s) coupons" in bad.output


def test_p12_p20_rows_stripe_no_longer_lists_are_deactivated_never_deleted(stripe_app, fake_stripe):
    user = make_user()
    gone_product = make_product(id="prod_gone")
    gone_price = make_price(gone_product, id="price_gone")
    make_subscription(user, gone_price, status="canceled")  # still references them
    db.session.commit()
    world = build_world(fake_stripe)
    fake_stripe.update(world.price["id"], active=False)  # archived on Stripe

    report = stripe_resync(settings=stripe_settings(), actor=CLI)

    assert report.types["products"].deactivated == 1 and report.types["prices"].deactivated == 1
    assert db.session.get(StripeProduct, "prod_gone", populate_existing=True).active is False
    assert db.session.get(StripePrice, "price_gone", populate_existing=True).active is False
    assert db.session.get(StripePrice, world.price["id"], populate_existing=True).active is False
    assert counts()["UserSubscription"] == 2  # nothing referenced was deleted


def test_p12_archived_and_deleted_objects_become_inactive_through_webhooks(
    stripe_app, fake_stripe, client
):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    fake_stripe.update(world.product["id"], active=False)
    archived = fake_stripe.event("product.updated", world.product["id"])
    deleted = fake_stripe.event("price.deleted", world.price["id"])
    fake_stripe.delete(world.price["id"])

    assert deliver(client, archived).status_code == 200
    assert deliver(client, deleted).status_code == 200

    assert (
        db.session.get(StripeProduct, world.product["id"], populate_existing=True).active is False
    )
    assert db.session.get(StripePrice, world.price["id"], populate_existing=True).active is False
    assert counts()["UserSubscription"] == 1  # the subscription still references both


@pytest.mark.parametrize("should_retry", [None, "true"])
def test_p21_rate_limits_and_server_errors_are_retried_with_backoff(
    stripe_app, fake_stripe, should_retry
):
    build_world(fake_stripe)
    fake_stripe.inject("/v1/customers", status=429, times=2, should_retry=should_retry)
    fake_stripe.inject("/v1/subscriptions", status=500, times=1)
    fake_stripe.inject("/v1/invoices", status=503, times=1, delay=0.05)

    report = stripe_resync(settings=stripe_settings(), actor=CLI)

    assert report.failed == 0, report.to_dict()
    assert counts()["StripeCustomer"] == 1 and counts()["PaymentHistory"] == 1
    hits = [path for _, path, _ in fake_stripe.requests]
    assert hits.count("/v1/customers") == 3 and hits.count("/v1/subscriptions") == 2


def test_p21_should_retry_false_is_honoured_and_the_command_fails(stripe_app, fake_stripe, runner):
    build_world(fake_stripe)
    fake_stripe.inject("/v1/customers", status=429, times=1, should_retry="false")

    result = runner.invoke(args=["sync-stripe"])

    assert result.exit_code == 1
    assert "FAILED customers customers: listing stopped" in result.output
    assert [path for _, path, _ in fake_stripe.requests].count("/v1/customers") == 1
    assert counts()["StripeProduct"] == 1  # the other types went on


def test_p21_a_bad_object_is_counted_and_listed_not_fatal(stripe_app, fake_stripe, runner):
    world = build_world(fake_stripe)
    broken = fake_stripe.add_subscription(world.customer, world.price)
    fake_stripe.update(broken["id"], items={"object": "list", "data": [], "has_more": False})
    stranger = fake_stripe.add_customer("nobody@example.com")

    result = runner.invoke(args=["sync-stripe"])

    assert result.exit_code == 1
    assert f"FAILED subscriptions {broken['id']}: subscription {broken['id']} has no price" in (
        result.output
    )
    assert f"skipped customers {stranger['id']}: no user with id - or email nobody@example.com" in (
        result.output
    )
    assert counts()["UserSubscription"] == 1 and counts()["PaymentHistory"] == 1
    unlinked = db.session.get(StripeUnlinkedCustomer, stranger["id"])
    assert unlinked.email == "nobody@example.com"


def test_p22_one_resync_at_a_time(stripe_app, fake_stripe, runner):
    build_world(fake_stripe)
    holder = engine_for(configured_test_database_url())
    with holder.connect() as connection:
        assert connection.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar()
        result = runner.invoke(args=["sync-stripe"])
        assert result.exit_code == 1 and "already running" in result.output
        with pytest.raises(Conflict):
            stripe_resync_request(settings=stripe_settings(), actor=CLI)
        connection.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
    holder.dispose()
    assert counts()["StripeProduct"] == 0

    stripe_resync_request(
        settings=stripe_settings(), actor=CLI, only=["products"]
    )  # queued, not run yet (inline runner)
    with pytest.raises(Conflict, match="already running"):
        stripe_resync_request(settings=stripe_settings(), actor=CLI)
    assert runner.invoke(args=["sync-stripe"]).exit_code == 0


def test_resync_prints_a_table_and_progress(stripe_app, fake_stripe, runner):
    build_world(fake_stripe)
    result = runner.invoke(args=["sync-stripe"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("type"))
    assert header.split() == [
        "type",
        "created",
        "updated",
        "unchanged",
        "deactivated",
        "skipped",
        "failed",
    ]
    assert "Syncing from Stripe" in result.output
    assert "payments: 1 token allowance(s) granted" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentHistory)) == 1


def test_p21_backoff_grows_exponentially_with_full_jitter():
    from dashboard.services.stripe.gateway import MAX_DELAY_SECONDS, _retry_delay

    for attempt in range(8):
        cap = min(MAX_DELAY_SECONDS, 0.5 * 2**attempt)
        delays = {_retry_delay(attempt, 0.5) for _ in range(200)}
        assert all(0 <= d <= cap for d in delays)
        assert len(delays) > 150 and max(delays) > cap / 2  # spread out, not a fixed step
