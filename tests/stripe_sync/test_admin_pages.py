"""The Stripe admin pages with the real SDK against the fake Stripe: Resync Stripe (queue,
progress, report, one at a time), webhook events replayed from the admin, and the customer
page's freshness and "Sync from Stripe"."""

from __future__ import annotations

import re
import socket
from html import unescape

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import run_pending_jobs
from dashboard.models import AuditLog, Job, StripeUserRefresh, UserSubscription
from dashboard.services.stripe.resync import RESYNC_TYPES, stripe_resync
from tests.conftest import csrf_token, sign_in_with_forms
from tests.factories import make_staff, make_stripe_event
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, stripe_settings, user_state

RESYNC = "/admin/resync/"
CLI = Actor.system("cli")
WRONG_KEY = "sk_test_51WrongKeyThatMustNeverBeShown"


def signed_in(flask_app, role: str):  # noqa: ANN001, ANN201
    client = flask_app.test_client()
    staff = make_staff(role)
    db.session.commit()
    assert sign_in_with_forms(client, staff).status_code == 302
    return client


def text(response) -> str:  # noqa: ANN001
    return unescape(response.get_data(as_text=True))


def start(client, **fields):  # noqa: ANN001, ANN201
    data = {"csrf_token": csrf_token(client), "types": list(RESYNC_TYPES), **fields}
    return client.post(RESYNC, data=data)


def report_cell(html: str, kind: str, count: str) -> int:
    row = re.search(rf'<tr data-type="{kind}">(.*?)</tr>', html, re.S).group(1)
    return int(re.search(rf'data-count="{count}">(\d+)<', row).group(1))


def test_a_resync_from_the_page_shows_progress_then_the_report(committed_stripe_app, fake_stripe):
    app = committed_stripe_app
    build_world(fake_stripe)
    client = signed_in(app, "ADMIN")
    assert "No resync has been run from here yet" in text(client.get(RESYNC))

    queued = start(client)
    assert queued.status_code == 302
    job_url = queued.location
    job_id = job_url.rsplit("/", 1)[1]
    html = text(client.get(job_url))
    assert "Stripe resync queued (products, prices, customers, subscriptions, payments)" in html
    assert 'data-finished="false"' in html and 'id="job-progress"' in html
    assert f'data-status-url="{job_url}/status"' in html and "js/job_progress.js" in html
    status = client.get(f"{job_url}/status").get_json()
    assert (status["status"], status["finished"], status["ok"]) == ("queued", False, None)

    # One at a time: a second request while the first is queued is refused, with a link.
    refused = start(client)
    assert refused.status_code == 409
    assert "A Stripe resync is already running" in text(refused)
    assert f'id="resync-running-link" href="{job_url}"' in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1

    assert run_pending_jobs(app) == [job_id]
    html = text(client.get(job_url))
    assert 'data-finished="true"' in html and "finished without failures" in html
    for kind in ("products", "prices", "customers", "subscriptions", "payments"):
        assert report_cell(html, kind, "created") == 1, kind
        assert report_cell(html, kind, "failed") == 0, kind
    status = client.get(f"{job_url}/status").get_json()
    assert (status["status"], status["finished"], status["ok"], status["progress"]) == (
        "succeeded",
        True,
        True,
        100,
    )
    index = text(client.get(RESYNC))
    assert f'href="{job_url}"' in index and "succeeded" in index
    actions = db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()
    assert "stripe.resync_requested" in actions and actions[-1] == "stripe.resync"

    # A second run right after: nothing created or updated.
    second = start(client, dry_run="y")
    assert run_pending_jobs(app) == [second.location.rsplit("/", 1)[1]]
    html = text(client.get(second.location))
    assert "dry run: nothing was written" in html
    assert all(report_cell(html, kind, "created") == 0 for kind in RESYNC_TYPES)
    assert all(report_cell(html, kind, "updated") == 0 for kind in RESYNC_TYPES)
    for page in (html, index):
        assert fake_stripe.api_key not in page


def test_failures_are_listed_with_their_reasons_and_no_key_shows(
    committed_stripe_app, fake_stripe, monkeypatch
):
    app = committed_stripe_app
    build_world(fake_stripe)
    client = signed_in(app, "ADMIN")
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", WRONG_KEY)

    job_url = start(client, types=["customers"]).location
    run_pending_jobs(app)
    response = client.get(job_url)
    html = text(response)

    assert "some objects failed (listed below)" in html
    assert report_cell(html, "customers", "failed") == 1
    failures = re.search(r'id="job-failures">(.*?)</table>', html, re.S).group(1)
    assert "customers" in failures and "Invalid API Key: [redacted]" in failures
    assert client.get(f"{job_url}/status").get_json()["ok"] is False
    for page in (response, client.get(RESYNC), client.get(f"{job_url}/status")):
        assert WRONG_KEY not in page.get_data(as_text=True)
        assert "51WrongKey" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "types",
    [[], ["charges"], ["products", "refunds"]],
    ids=["none", "unknown", "one-unknown"],
)
def test_a_form_without_valid_types_queues_nothing(stripe_app, types):
    client = signed_in(stripe_app, "ADMIN")
    response = start(client, types=types)
    assert response.status_code == 400
    assert "Choose at least one type to resync; nothing was queued." in text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_an_unknown_job_is_a_404(stripe_app):
    client = signed_in(stripe_app, "ADMIN")
    assert client.get(f"{RESYNC}job/no-such-job").status_code == 404
    assert client.get(f"{RESYNC}job/no-such-job/status").status_code == 404


# --- webhook events -------------------------------------------------------------------------


def test_an_event_replayed_from_its_page_refetches_and_is_audited(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    event = fake_stripe.event("customer.subscription.updated", world.subscription["id"])
    assert deliver(stripe_app.test_client(), event).status_code == 200
    fake_stripe.update(world.subscription["id"], status="past_due")
    client = signed_in(stripe_app, "ADMIN")

    details = f"/admin/webhook_events/details/?id={event['id']}"
    page = client.get(details)
    assert 'id="event-replay-form"' in page.get_data(as_text=True)
    response = client.post(
        "/admin/webhook_events/replay/", data={"csrf_token": csrf_token(client), "id": event["id"]}
    )

    assert response.status_code == 302 and response.location.endswith(details)
    assert f"Replayed {event['id']}: " in text(client.get(response.location))
    assert user_state(world.user.id)[:2] == ("PREMIUM", "PAST_DUE")
    audit = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (audit.action, audit.target_model, audit.target_id) == (
        "stripe.event_replay",
        "StripeEvent",
        event["id"],
    )
    assert audit.actor_label.startswith("staff:")


def test_bulk_replay_counts_what_was_applied_and_what_failed(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False)
    events = [
        fake_stripe.event("customer.subscription.updated", world.subscription["id"])
        for _ in range(2)
    ]
    for event in events:
        assert deliver(stripe_app.test_client(), event).status_code == 200
    unknown = make_stripe_event(id="evt_gone_missing", livemode=True)  # wrong mode: refused
    db.session.commit()
    client = signed_in(stripe_app, "ADMIN")

    response = client.post(
        "/admin/webhook_events/action/",
        data={
            "csrf_token": csrf_token(client),
            "action": "replay",
            "rowid": [events[0]["id"], events[1]["id"], unknown.id],
        },
        follow_redirects=True,
    )

    html = text(response)
    assert "Replayed 2 of 3 event(s)." in html
    assert "1 failed: Replay of evt_gone_missing failed: A live-mode event" in html
    replays = db.session.scalars(
        sa.select(AuditLog.target_id).where(AuditLog.action == "stripe.event_replay")
    ).all()
    assert sorted(replays) == sorted(e["id"] for e in events)


def test_the_payload_is_escaped_and_the_list_filters_by_state(stripe_app):
    hostile = make_stripe_event(
        type="customer.updated",
        payload={"object": "event", "data": {"object": {"name": "<script>alert(1)</script>"}}},
        error="handler exploded",
    )
    done = make_stripe_event(processed_at=hostile.received_at, outcome="applied")
    db.session.commit()
    client = signed_in(stripe_app, "ADMIN")

    raw = client.get(f"/admin/webhook_events/details/?id={hostile.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "<script>alert(1)" not in raw
    assert '<pre class="bo-json">' in raw

    view = next(
        v for v in stripe_app.extensions["admin"][0]._views if v.endpoint == "webhook_events"
    )
    arg = next(f"flt0_{key}" for key, (_i, flt) in view._filter_args.items() if flt.name == "State")
    failed = client.get("/admin/webhook_events/", query_string={arg: "failed"}).get_data(
        as_text=True
    )
    processed = client.get("/admin/webhook_events/", query_string={arg: "processed"}).get_data(
        as_text=True
    )
    assert hostile.id in failed and done.id not in failed
    assert done.id in processed and hostile.id not in processed


# --- the customer page ----------------------------------------------------------------------


def _status(subscription_id: str) -> str:
    return db.session.scalars(
        sa.select(UserSubscription.status)
        .where(UserSubscription.stripe_subscription_id == subscription_id)
        .execution_options(populate_existing=True)
    ).one()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_customer_page_refreshes_and_the_button_forces_it(stripe_app, fake_stripe, monkeypatch):
    world = build_world(fake_stripe, invoice=False)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    client = signed_in(stripe_app, "SUPPORT")
    url = f"/admin/customer/{world.user.id}"

    first = text(client.get(url))
    assert re.search(r'id="bo-stripe-freshness">Refreshed from Stripe at [\d: -]+ UTC\.<', first)
    again = text(client.get(url))  # within STRIPE_REFRESH_MAX_AGE: no new call
    assert 'id="bo-stripe-freshness">Data from Stripe as of' in again
    assert 'id="bo-stripe-sync-button"' in again

    fake_stripe.update(world.subscription["id"], status="canceled")
    synced = client.post(f"{url}/stripe-sync", data={"csrf_token": csrf_token(client)})
    assert synced.status_code == 302 and synced.location.endswith(url)
    page = text(client.get(url))
    assert "Refreshed from Stripe at" in page and _status(world.subscription["id"]) == "canceled"
    assert user_state(world.user.id)[:2] == ("USER", "CANCELED")

    # Stripe down: the page still renders, says so, and shows the stored data.
    monkeypatch.setitem(stripe_app.config, "STRIPE_API_BASE", f"http://127.0.0.1:{_dead_port()}")
    down = client.post(f"{url}/stripe-sync", data={"csrf_token": csrf_token(client)})
    follow = client.get(down.location)
    assert follow.status_code == 200
    html = text(follow)
    assert "Stripe unreachable, showing data from " in html
    assert re.search(r'id="bo-stripe-freshness">Stripe unreachable, showing data from', html)
    assert "canceled" in html
    for response in (first, again, page, html):
        assert fake_stripe.api_key not in response


def test_without_a_stripe_key_the_page_says_so_and_calls_nothing(app):
    world_user = _user_with_subscription()
    client = signed_in(app, "ADMIN")
    url = f"/admin/customer/{world_user}"

    html = text(client.get(url))
    assert "Stripe sync is not configured (no STRIPE_SECRET_KEY)" in html
    assert 'id="bo-stripe-sync-button"' not in html
    response = client.post(f"{url}/stripe-sync", data={"csrf_token": csrf_token(client)})
    assert "Stripe sync is not configured" in text(client.get(response.location))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StripeUserRefresh)) == 0


def test_an_editor_sees_no_stripe_freshness_and_triggers_no_refresh(stripe_app, fake_stripe):
    world = build_world(fake_stripe, invoice=False)
    client = signed_in(stripe_app, "EDITOR")
    html = text(client.get(f"/admin/customer/{world.user.id}"))
    assert 'id="bo-customer"' in html and "bo-stripe-freshness" not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StripeUserRefresh)) == 0
    refused = client.post(
        f"/admin/customer/{world.user.id}/stripe-sync", data={"csrf_token": csrf_token(client)}
    )
    assert refused.status_code == 403


def _user_with_subscription() -> str:
    from tests.factories import make_price, make_subscription, make_user

    user = make_user()
    make_subscription(user, make_price())
    db.session.commit()
    return user.id
