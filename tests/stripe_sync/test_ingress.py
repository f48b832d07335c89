"""Webhook ingress: signatures, raw body, recording before acting (properties 1-4, 23)."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, StripeEventRecord, StripeProduct
from dashboard.services.stripe import events as stripe_events
from dashboard.services.stripe import handlers as stripe_handlers
from dashboard.services.stripe.events import stripe_event_replay
from tests.stripe_sync.conftest import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, deliver, signed
from tests.stripe_sync.world import stripe_settings


def _stored_events() -> list[StripeEventRecord]:
    return list(db.session.scalars(sa.select(StripeEventRecord).order_by(StripeEventRecord.id)))


def _product_event(fake):  # noqa: ANN001, ANN202
    product = fake.add_product("Starter", tokens=50)
    return product, fake.event("product.created", product["id"])


def _tampered(event: dict) -> tuple[str, dict]:
    body, headers = signed(event)
    return body.replace('"Starter"', '"Hacked"'), headers


@pytest.mark.parametrize(
    "case",
    [
        "missing header",
        "wrong secret",
        "tampered body",
        "stale timestamp",
        "garbage header",
        "no v1 signature",
    ],
)
def test_p01_bad_or_stale_signature_is_400_and_writes_nothing(
    stripe_app, fake_stripe, client, case
):
    product, event = _product_event(fake_stripe)
    body, headers = signed(event)
    if case == "missing header":
        headers.pop("Stripe-Signature")
    elif case == "wrong secret":
        body, headers = signed(event, secret="whsec_someone_else")
    elif case == "tampered body":
        body, headers = _tampered(event)
    elif case == "stale timestamp":
        body, headers = signed(event, timestamp=int(time.time()) - 301)
    elif case == "garbage header":
        headers["Stripe-Signature"] = "not a signature"
    else:
        headers["Stripe-Signature"] = headers["Stripe-Signature"].split(",")[0] + ",v0=abc"

    response = client.post("/webhooks/stripe", data=body, headers=headers)

    assert response.status_code == 400
    assert response.json["received"] is False
    assert _stored_events() == []
    assert db.session.get(StripeProduct, product["id"]) is None


def test_p01_timestamp_within_tolerance_is_accepted(stripe_app, fake_stripe, client):
    _, event = _product_event(fake_stripe)
    response = deliver(client, event, timestamp=int(time.time()) - 290)
    assert response.status_code == 200


def test_p02_signature_is_checked_on_the_raw_bytes(stripe_app, fake_stripe, client):
    product, event = _product_event(fake_stripe)
    # Odd spacing and key order: re-serialising the JSON would change the signed bytes.
    raw = json.dumps(event, indent=7, sort_keys=True, separators=(" ,", " :  "))
    body, headers = signed(event, body=raw)

    response = client.post("/webhooks/stripe", data=body.encode(), headers=headers)

    assert response.status_code == 200, response.json
    assert db.session.get(StripeProduct, product["id"]).name == "Starter"


@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET])
def test_p02_any_configured_secret_is_accepted_while_rotating(
    stripe_app, fake_stripe, client, monkeypatch, secret
):
    monkeypatch.setitem(
        stripe_app.config, "STRIPE_WEBHOOK_SECRETS", [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]
    )
    _, event = _product_event(fake_stripe)
    assert deliver(client, event, secret=secret).status_code == 200


def test_p02_several_v1_entries_in_one_header(stripe_app, fake_stripe, client):
    _, event = _product_event(fake_stripe)
    body, headers = signed(event)
    _, other = signed(event, secret="whsec_rolled_out", body=body)
    timestamp, good = headers["Stripe-Signature"].split(",")
    bad = other["Stripe-Signature"].split(",")[1]
    headers["Stripe-Signature"] = f"{timestamp},{bad},{good}"
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200


def test_p03_a_failing_handler_answers_500_records_the_error_and_writes_nothing(
    stripe_app, fake_stripe, client, monkeypatch
):
    product, event = _product_event(fake_stripe)

    def explode(gateway, payload, actor):  # noqa: ANN001, ANN202
        stripe_handlers.on_product(gateway, payload, actor)  # writes the product first...
        raise RuntimeError("disk on fire")  # ...then fails before commit

    monkeypatch.setitem(stripe_events.EVENT_HANDLERS, "product.created", explode)
    response = deliver(client, event)

    assert response.status_code == 500
    assert "disk on fire" not in response.get_data(as_text=True)
    (row,) = _stored_events()
    assert row.processed_at is None and row.error == "disk on fire"
    assert db.session.get(StripeProduct, product["id"]) is None

    # Stripe retries; the handler works now: applied, error cleared, attempts counted.
    monkeypatch.setitem(stripe_events.EVENT_HANDLERS, "product.created", stripe_handlers.on_product)
    assert deliver(client, event).status_code == 200
    db.session.refresh(row)
    assert row.processed_at is not None and row.error is None and row.attempts == 2
    assert db.session.get(StripeProduct, product["id"]).name == "Starter"


def test_p03_no_2xx_when_the_delivery_cannot_be_recorded(
    stripe_app, fake_stripe, client, monkeypatch
):
    _, event = _product_event(fake_stripe)

    def database_down(**kwargs):  # noqa: ANN003, ANN202
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(stripe_events, "stripe_event_record", database_down)
    monkeypatch.setitem(stripe_app.config, "PROPAGATE_EXCEPTIONS", False)
    response = deliver(client, event)
    assert response.status_code in (500, 503)  # either way Stripe retries
    assert _stored_events() == []


def test_p03_unhandled_event_types_are_acknowledged_and_stored(stripe_app, fake_stripe, client):
    customer = fake_stripe.add_customer("x@example.com")
    event = fake_stripe.event("customer.tax_id.created", customer["id"])
    response = deliver(client, event)
    assert response.status_code == 200
    (row,) = _stored_events()
    assert row.processed_at is not None and row.outcome == stripe_events.IGNORED


def test_p04_every_delivery_is_stored_and_can_be_replayed(stripe_app, fake_stripe, client):
    product, event = _product_event(fake_stripe)
    assert deliver(client, event).status_code == 200
    assert deliver(client, event).json["message"].startswith("duplicate")

    (row,) = _stored_events()
    assert (row.id, row.type, row.livemode, row.api_version) == (
        event["id"],
        "product.created",
        False,
        event["api_version"],
    )
    assert row.created.timestamp() == pytest.approx(event["created"], abs=1)
    assert row.payload == event and row.source == "webhook" and row.attempts == 2
    assert row.received_at is not None and row.processed_at is not None

    # The admin's replay: Stripe has a new name by now; replaying applies what Stripe says.
    fake_stripe.update(product["id"], name="Starter (renamed)")
    staff = Actor(label="staff:admin@example.com", staff_id="staff-1", role="ADMIN")
    receipt = stripe_event_replay(settings=stripe_settings(), event_id=event["id"], actor=staff)

    assert receipt.status_code == 200 and "updated" in receipt.message
    assert db.session.get(StripeProduct, product["id"]).name == "Starter (renamed)"
    audit = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "stripe.event_replay")
    ).one()
    assert (audit.actor_staff_id, audit.target_id) == ("staff-1", event["id"])


def test_p04_a_failed_replay_is_audited_with_its_reason(stripe_app, fake_stripe, client):
    product, event = _product_event(fake_stripe)
    assert deliver(client, event).status_code == 200
    fake_stripe.inject("/v1/products", status=400, times=1)
    staff = Actor(label="staff:admin@example.com", staff_id="staff-1", role="ADMIN")

    receipt = stripe_event_replay(settings=stripe_settings(), event_id=event["id"], actor=staff)

    assert receipt.status_code == 500 and "Injected 400" in receipt.message
    audit = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "stripe.event_replay")
    ).one()
    assert audit.details["outcome"].startswith("failed: Stripe refused the request")
    assert db.session.get(StripeEventRecord, event["id"]).error == receipt.message


def test_p23_an_event_of_the_other_mode_is_stored_and_refused(stripe_app, fake_stripe, client):
    product, event = _product_event(fake_stripe)
    event["livemode"] = True
    response = deliver(client, event)
    assert response.status_code == 400
    assert "live-mode event" in response.json["message"]
    (row,) = _stored_events()
    assert row.processed_at is None and "refused" in row.error
    assert db.session.get(StripeProduct, product["id"]) is None


def test_an_oversized_body_is_refused_before_anything_else(stripe_app, client):
    response = client.post("/webhooks/stripe", data=b"x" * 1_000_001)
    assert response.status_code == 413 and _stored_events() == []


def test_the_webhook_is_named_for_the_csrf_and_sign_in_exemptions(stripe_app):
    from dashboard.webhooks.stripe import WEBHOOK_ENDPOINTS

    rules = {rule.endpoint: rule for rule in stripe_app.url_map.iter_rules()}
    assert WEBHOOK_ENDPOINTS == ["stripe_webhooks.receive"]
    assert rules["stripe_webhooks.receive"].rule == "/webhooks/stripe"
    assert rules["stripe_webhooks.receive"].methods == {"POST", "OPTIONS"}


@pytest.mark.parametrize("role", ["SUPPORT", "EDITOR", None])
def test_staff_without_the_tools_can_neither_replay_nor_resync(
    stripe_app, fake_stripe, client, role
):
    from dashboard.core.errors import PermissionDenied
    from dashboard.services.stripe.resync import stripe_resync_request

    _, event = _product_event(fake_stripe)
    assert deliver(client, event).status_code == 200
    staff = Actor(label="staff:someone@example.com", staff_id="staff-2", role=role)
    with pytest.raises(PermissionDenied):
        stripe_event_replay(settings=stripe_settings(), event_id=event["id"], actor=staff)
    with pytest.raises(PermissionDenied):
        stripe_resync_request(settings=stripe_settings(), actor=staff)
    assert db.session.scalars(sa.select(AuditLog)).all() == []
