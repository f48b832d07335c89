"""Keys never leak, and test and live data never mix (property 23)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from config import ConfigError
from dashboard import create_app
from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import run_pending_jobs
from dashboard.models import AuditLog, Job, StripeEventRecord
from dashboard.services.stripe.gateway import StripeConfigError, scrub, stripe_gateway
from dashboard.services.stripe.resync import stripe_resync, stripe_resync_request
from tests.conftest import settings_for
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, counts, stripe_settings

WRONG_KEY = "sk_test_51WrongKeyThatMustNeverBeShown"
LIVE_KEY = "sk_live_51LiveKeyThatMustNeverBeShown"


def _everything_written() -> str:
    audits = db.session.execute(sa.select(AuditLog.details, AuditLog.changes)).all()
    events = db.session.execute(sa.select(StripeEventRecord.error)).all()
    jobs = db.session.execute(sa.select(Job.error, Job.result, Job.progress_message)).all()
    return repr(audits) + repr(events) + repr(jobs)


def test_p23_a_rejected_key_appears_in_no_output_log_row_or_answer(
    committed_stripe_app, fake_stripe, monkeypatch, caplog
):
    app = committed_stripe_app
    world = build_world(fake_stripe)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", WRONG_KEY)
    caplog.set_level(logging.DEBUG)

    result = app.test_cli_runner().invoke(args=["sync-stripe"])
    response = deliver(app.test_client(), fake_stripe.event("invoice.paid", world.invoice["id"]))
    stripe_resync_request(settings=stripe_settings(), actor=Actor.system("cli"))
    run_pending_jobs(app)

    assert result.exit_code == 1 and "Invalid API Key: [redacted]" in result.output
    assert response.status_code == 500
    db.session.expire_all()
    job = db.session.scalars(sa.select(Job)).one()
    assert job.result["ok"] is False
    assert (
        "Invalid API Key: [redacted]" in job.result["types"]["customers"]["failures"][0]["reason"]
    )
    assert "Invalid API Key" in caplog.text  # the SDK did log the answer...
    for text in (
        result.output,
        response.get_data(as_text=True),
        caplog.text,
        _everything_written(),
    ):
        assert WRONG_KEY not in text and "51WrongKey" not in text  # ...without the key
    assert counts()["StripeCustomer"] == 0


@pytest.mark.parametrize(
    "env, key, expected",
    [
        ("testing", LIVE_KEY, "live-mode key, refused in testing"),
        ("development", "rk_live_51Restricted", "live-mode key, refused in development"),
        ("production", "sk_test_51TestKeyInProd", "test-mode key, refused in production"),
        ("testing", "pk_test_51Publishable", "not a Stripe secret or restricted key"),
    ],
)
def test_p23_a_key_of_the_wrong_mode_stops_the_app_with_a_clear_message(env, key, expected):
    settings = settings_for(
        "sqlite://", BACKOFFICE_ENV=env, STRIPE_SECRET_KEY=key, SECRET_KEY="x" * 40
    )
    with pytest.raises(ConfigError) as raised:
        create_app(settings)
    assert expected in str(raised.value) and key not in str(raised.value)


def test_p23_a_live_key_set_at_run_time_is_refused_by_the_gateway(stripe_app, monkeypatch, runner):
    monkeypatch.setitem(stripe_app.config, "STRIPE_SECRET_KEY", LIVE_KEY)
    with pytest.raises(StripeConfigError, match="live-mode key, refused in testing"):
        stripe_gateway(stripe_settings())
    result = runner.invoke(args=["sync-stripe"])
    assert result.exit_code == 1 and "refused in testing" in result.output
    assert LIVE_KEY not in result.output


def test_p23_listed_objects_of_the_other_mode_are_refused(stripe_app, fake_stripe):
    fake_stripe.livemode = True
    build_world(fake_stripe)
    report = stripe_resync(settings=stripe_settings(), actor=Actor.system("cli"))
    assert report.types["products"].failed == 1
    assert (
        "livemode True does not match the configured key"
        in (report.types["products"].failures[0]["reason"])
    )
    assert counts()["StripeProduct"] == 0 and counts()["UserSubscription"] == 0


def test_scrub_removes_keys_and_webhook_secrets():
    text = f"a {LIVE_KEY} b rk_test_abc123 c whsec_XYZ789 d pk_live_q1"
    assert scrub(text) == "a [redacted] b [redacted] c [redacted] d [redacted]"
