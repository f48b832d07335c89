"""Refunds through Stripe (issue 15, item 1 and 3): the real SDK against the fake, exactly
once per form, converging with the refund webhooks, errors as messages with nothing written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, PaymentHistory, PaymentRefund, User
from dashboard.services.stripe.gateway import StripeConfigError, StripeSettings
from dashboard.services.stripe.refunds import payment_refund, payment_refund_options
from dashboard.services.stripe.resync import stripe_resync
from tests.factories import make_staff, staff_actor
from tests.fakes.stripe_writes import refund_charge
from tests.stripe_sync.conftest import deliver
from tests.stripe_sync.world import build_world, stripe_settings

CLI = Actor.system("cli")


@pytest.fixture
def staff(stripe_app):
    return {role: staff_actor(make_staff(role)) for role in ("ADMIN", "SUPPORT", "EDITOR")}


@pytest.fixture
def paid(stripe_app, fake_stripe, staff):
    global SUPPORT, ADMIN, EDITOR
    SUPPORT, ADMIN, EDITOR = staff["SUPPORT"], staff["ADMIN"], staff["EDITOR"]
    world = build_world(fake_stripe, tokens=40)
    stripe_resync(settings=stripe_settings(), actor=CLI)
    payment = db.session.scalars(sa.select(PaymentHistory)).one()
    return world, payment


def refund(payment, key="form-key-0001", actor=None, **kwargs):
    arguments = {
        "payment_id": payment.id,
        "amount": 300,
        "reason": "Customer asked",
        "idempotency_key": key,
        "actor": actor or SUPPORT,
        "settings": stripe_settings(),
        "support_limit": 5000,
        **kwargs,
    }
    return payment_refund(**arguments)


def rows():
    db.session.expire_all()
    payments = db.session.execute(
        sa.select(PaymentHistory.stripe_payment_intent_id, PaymentHistory.status)
    ).all()
    refunds = db.session.execute(
        sa.select(PaymentRefund.stripe_refund_id, PaymentRefund.amount, PaymentRefund.status)
    ).all()
    audits = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.action == "payment.refund")
    ).all()
    return payments, refunds, audits


def test_a_partial_refund_writes_what_stripe_answered_and_one_audit_row(paid, fake_stripe):
    world, payment = paid
    result = refund(payment)
    assert result.applied
    assert "Refunded 3.00 USD of 9.00 USD" in result.message
    payments, refunds, audits = rows()
    assert payments == [(payment.stripe_payment_intent_id, "partially_refunded")]
    assert refunds == [(result.refund_id, 300, "succeeded")]
    assert audits == ["payment.refund"]
    assert payment_refund_options(payment_id=payment.id, settings=stripe_settings()).left == 600


def test_a_double_submit_refunds_once(paid, fake_stripe):
    world, payment = paid
    first = refund(payment)
    second = refund(payment)
    assert second.refund_id == first.refund_id and not second.applied
    assert "already made" in second.message
    posts = [r for r in fake_stripe.requests if r[0] == "POST" and r[1] == "/v1/refunds"]
    assert len(posts) == 2  # Stripe saw both, and answered the second with the first answer
    assert (
        fake_stripe.get(fake_stripe.get(payment.stripe_payment_intent_id)["latest_charge"])[
            "amount_refunded"
        ]
        == 300
    )
    assert len(rows()[1]) == 1 and rows()[2] == ["payment.refund"]


def test_a_retry_after_a_timeout_refunds_once(paid, fake_stripe, monkeypatch, stripe_app):
    world, payment = paid
    monkeypatch.setitem(stripe_app.config, "STRIPE_TIMEOUT", 0.3)
    fake_stripe.inject("/v1/refunds", method="POST", delay=0.6)
    result = refund(payment)  # the first attempt times out; the retry reuses the key
    charge = fake_stripe.get(fake_stripe.get(payment.stripe_payment_intent_id)["latest_charge"])
    assert charge["amount_refunded"] == 300
    assert rows()[1] == [(result.refund_id, 300, "succeeded")]


@pytest.mark.parametrize("webhook_first", [True, False])
def test_webhook_and_response_in_either_order_give_the_same_rows(
    paid, fake_stripe, stripe_app, webhook_first
):
    world, payment = paid
    client = stripe_app.test_client()
    if webhook_first:
        # Stripe made the refund and its webhook arrived before Backoffice heard back.
        made = refund_charge(fake_stripe, payment.stripe_payment_intent_id, 300)
        assert deliver(client, fake_stripe.event("refund.created", made["id"])).status_code == 200
        assert rows()[1] == [(made["id"], 300, "succeeded")]
        key = "replayed-key-001"
        fake_stripe.idempotent[f"bo-refund-{key}"] = (200, made)
        result = refund(payment, key=key)
    else:
        result = refund(payment)
        charge = fake_stripe.get(payment.stripe_payment_intent_id)["latest_charge"]
        event = fake_stripe.event("charge.refunded", charge)
        assert deliver(client, event).status_code == 200
    assert result.applied
    payments, refunds, audits = rows()
    assert payments == [(payment.stripe_payment_intent_id, "partially_refunded")]
    assert refunds == [(result.refund_id, 300, "succeeded")]
    assert audits == ["payment.refund"]


def test_a_full_refund_with_token_take_back_never_below_zero(paid, fake_stripe):
    world, payment = paid
    db.session.execute(sa.update(User).where(User.id == world.user.id).values(tokens=25))
    db.session.commit()
    options = payment_refund_options(payment_id=payment.id, settings=stripe_settings())
    assert (options.tokens_granted, options.tokens_back) == (40, 25)
    result = refund(payment, amount=None, actor=ADMIN, take_back_tokens=True)
    assert result.tokens_taken == 25
    assert db.session.get(User, world.user.id, populate_existing=True).tokens == 0
    assert rows()[0] == [(payment.stripe_payment_intent_id, "refunded")]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("too_much", "At most 9.00 USD can be refunded"),
        ("already", "already fully refunded"),
        ("no_charge", "Stripe has no such object"),
        ("rate_limited", "rate-limiting"),
        ("down", "did not answer"),
        ("no_key", "Stripe is not configured"),
        ("no_reason", "A reason is required"),
    ],
)
def test_errors_are_messages_and_nothing_is_written(
    paid, fake_stripe, stripe_app, monkeypatch, setup, message
):
    world, payment = paid
    amount = 300
    settings = stripe_settings()
    kwargs = {}
    if setup == "too_much":
        amount = 901
    elif setup == "already":
        refund_charge(fake_stripe, payment.stripe_payment_intent_id)  # outside Backoffice
    elif setup == "no_charge":
        fake_stripe.delete(payment.stripe_payment_intent_id)
    elif setup == "rate_limited":
        fake_stripe.inject("/v1/refunds", method="POST", status=429, times=10)
    elif setup == "down":
        fake_stripe.inject("/v1/refunds", method="POST", status=503, times=10)
    elif setup == "no_key":
        settings = StripeSettings.from_config({**stripe_app.config, "STRIPE_SECRET_KEY": None})
    elif setup == "no_reason":
        kwargs["reason"] = "  "
    before = rows()
    with pytest.raises((BackofficeError, StripeConfigError)) as raised:
        refund(payment, amount=amount, settings=settings, **kwargs)
    assert message in raised.value.message
    assert rows() == before


def test_support_is_capped_at_the_refund_limit_and_admin_is_not(paid):
    world, payment = paid
    with pytest.raises(PermissionDenied, match="must be made by an ADMIN"):
        refund(payment, amount=600, support_limit=500)
    assert rows()[1] == []
    assert refund(payment, amount=600, support_limit=500, actor=ADMIN).applied
    with pytest.raises(PermissionDenied):
        refund(payment, amount=100, actor=EDITOR, key="other-key-0001")
