"""Issue 15's support flow in headless Chromium: support partially refunds a payment and
cancels a subscription at period end from the customer page, against the fake Stripe."""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, PaymentHistory, PaymentRefund, UserSubscription
from dashboard.services.stripe.resync import stripe_resync
from tests.admin import test_browser
from tests.factories import STAFF_PASSWORD, make_staff
from tests.stripe_sync.world import build_world, stripe_settings

live_server = test_browser.live_server
browser = test_browser.browser


def test_support_refunds_partly_and_cancels_at_period_end(
    browser, committed_stripe_app, fake_stripe, live_server
):
    support = make_staff("SUPPORT")
    db.session.commit()
    world = build_world(fake_stripe, email="fay@example.com")
    stripe_resync(settings=stripe_settings(), actor=Actor.system("cli"))
    user_id, email = world.user.id, support.email
    payment_id = db.session.scalars(sa.select(PaymentHistory.id)).one()

    page = browser.new_page()
    problems = test_browser.watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server}/admin/customer/{user_id}")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"**/admin/customer/{user_id}")
    assert "/test/customers/" in page.get_attribute("#bo-stripe-customer-link", "href")

    page.click(f"#bo-refund-{payment_id}")
    page.wait_for_url("**/refund")
    assert page.inner_text("#bo-refund-left") == "9.00 USD"
    page.fill("#bo-refund-amount", "2.50")
    page.fill("#bo-refund-reason", "Charged during the outage")
    page.click("#bo-refund-form button[type=submit]")
    page.wait_for_selector(".alert-success:has-text('Refunded 2.50 USD of 9.00 USD')")
    assert "(2.50 USD refunded)" in page.inner_text("#bo-payments-table")

    page.fill(".bo-cancel-form input[name=reason]", "Customer is leaving")
    page.click(".bo-cancel-form button[type=submit]")
    page.wait_for_selector(".alert-success:has-text('will cancel at the end of its period')")
    assert "Resume" in page.inner_text(".bo-cancel-form")

    db.session.expire_all()
    assert db.session.scalars(sa.select(PaymentHistory.status)).one() == "partially_refunded"
    refund = db.session.scalars(sa.select(PaymentRefund)).one()
    assert (refund.amount, refund.reason) == (250, "Charged during the outage")
    assert db.session.scalars(sa.select(UserSubscription.cancel_at_period_end)).one() is True
    actions = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_id == user_id).order_by(AuditLog.id)
    ).all()
    assert actions[-2:] == ["payment.refund", "subscription.cancel"]
    assert problems == []
