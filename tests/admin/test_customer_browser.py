"""Issue 5's support flow in a real browser (headless Chromium through Playwright): a support
person signs in, finds a customer by email, grants 5 tokens with a reason, bans them, and
sees both in the customer's history, with no CSP violation on the way."""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog, User, UserRole
from dashboard.services.tokens import tokens_check
from tests.admin import test_browser
from tests.factories import STAFF_PASSWORD, make_session, make_staff, make_user

# The live server and the browser are the ones the sign-in flow uses.
live_server = test_browser.live_server
browser = test_browser.browser


def test_support_finds_grants_bans_and_sees_the_history(browser, committed_app, live_server):
    support = make_staff("SUPPORT")
    customer = make_user(email="erin@example.com", name="Erin")
    make_session(customer, session_token="secret-session-erin")
    email, user_id = support.email, customer.id
    db.session.commit()

    page = browser.new_page()
    problems = test_browser.watch(page)
    confirmations: list[str] = []

    def confirm(dialog) -> None:  # noqa: ANN001
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)

    page.goto(f"{live_server}/admin/customer/")
    assert page.url.startswith(f"{live_server}/auth/sign-in")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url("**/admin/customer/")

    # Find the customer by email, in another case than it was stored in.
    page.fill("#bo-find-q", "ERIN@example.com")
    page.click("#bo-find button[type=submit]")
    page.wait_for_url(f"**/admin/customer/{user_id}")
    assert page.inner_text("#bo-customer") == "erin@example.com"

    # Grant 5 tokens with a reason: the flash shows the balance before and after.
    page.select_option("#bo-tokens-direction", "grant")
    page.fill("#bo-tokens-amount", "5")
    page.fill("#bo-tokens-reason", "Sorry for the outage")
    page.click("#bo-tokens-form button[type=submit]")
    page.wait_for_selector(".alert-success:has-text('Granted 5 tokens: balance 0 → 5.')")
    assert page.inner_text("#bo-field-tokens td") == "5"

    # Ban (the button asks first; the browser says yes).
    page.fill("#bo-ban-reason", "Abusive messages")
    page.click("#bo-ban-form button[type=submit]")
    page.wait_for_selector(".alert-success:has-text('erin@example.com is banned')")
    assert confirmations == ["Ban erin@example.com and sign them out everywhere?"]
    assert page.inner_text("#bo-field-role td") == "BANNED"
    assert page.locator("#bo-unban-form").count() == 1

    # Both in the history, newest first, with their reasons.
    history = page.locator("#bo-history-table tbody tr")
    assert history.count() == 2
    assert "user.ban" in history.nth(0).inner_text()
    assert "Abusive messages" in history.nth(0).inner_text()
    assert "tokens.grant" in history.nth(1).inner_text()
    assert "Sorry for the outage" in history.nth(1).inner_text()
    assert "secret-session-erin" not in page.content()

    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert (user.role, user.tokens) == (UserRole.BANNED, 5)
    actions = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_id == user_id).order_by(AuditLog.id)
    ).all()
    assert actions == ["tokens.grant", "user.ban"]
    assert tokens_check() == []
    assert problems == []
