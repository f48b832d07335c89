"""The customer page: every section shows the right rows, no secret ever reaches it, each
role sees what the matrix allows, the finder, the links and the statement count."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.admin.links import user_page_url
from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, LedgerKind, MembershipStatus, UserRole, utcnow
from dashboard.services import customer_overview as customer_service
from dashboard.services.moderation.bans import user_ban
from dashboard.services.tokens.ledger import tokens_deduct, tokens_grant
from tests.admin.test_pages import INLINE_HANDLER, INLINE_STYLE
from tests.conftest import sign_in_with_forms
from tests.factories import (
    make_account,
    make_customer,
    make_payment,
    make_post,
    make_price,
    make_product,
    make_session,
    make_staff,
    make_subscription,
    make_user,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("cli")
SECRETS = ("ya29.secret", "1//secret-refresh", "eyJ.secret-id", "secret-session-")


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def signed_in(app, role: str):
    client = app.test_client()
    assert sign_in_with_forms(client, make_staff(role)).status_code == 302
    return client


@pytest.fixture
def customer(app):
    """A paying customer with a bit of everything, committed."""
    product = make_product(name="Pro Plan")
    price = make_price(product, unit_amount=1900, currency="eur", interval="month")
    user = make_user(
        email="Carol@Example.com",
        name="Carol Customer",
        role=UserRole.PREMIUM,
        membership_status=MembershipStatus.ACTIVE,
        stripe_product_id=product.id,
        email_verified=datetime(2026, 1, 2, 3, 4),
    )
    make_customer(user, stripe_customer_id="cus_carol42")
    make_subscription(
        user,
        price,
        status="active",
        stripe_subscription_id="sub_carol",
        current_period_start=datetime(2026, 3, 1),
        current_period_end=datetime(2099, 4, 1),
        cancel_at_period_end=True,
    )
    make_payment(
        user, amount=1900, currency="eur", status="succeeded", stripe_payment_intent_id="pi_c1"
    )
    make_payment(
        user, amount=500, currency="jpy", status="failed", stripe_payment_intent_id="pi_c2"
    )
    make_account(user, provider="google", access_token="ya29.secret-access-carol")
    make_account(user, provider="github", type="oauth")
    make_session(user, session_token="secret-session-live", expires=utcnow() + timedelta(days=9))
    make_session(user, session_token="secret-session-old", expires=utcnow() - timedelta(days=1))
    make_post(user, title="Ten tips for <b>tea</b>", is_published=True)
    make_post(user, title="Unfinished draft")
    db.session.commit()
    tokens_grant(
        user_id=user.id,
        amount=4040,
        reason="Welcome bonus",
        actor=SYSTEM,
        expires_at=datetime(2099, 1, 1),
    )
    tokens_deduct(user_id=user.id, amount=3, reason="Refunded twice by mistake", actor=SYSTEM)
    return user


def test_support_sees_every_section(app, customer):
    page = text_of(signed_in(app, "SUPPORT").get(f"/admin/customer/{customer.id}"))
    profile = {
        "id": customer.id,
        "email": "Carol@Example.com",
        "name": "Carol Customer",
        "created_at": f"{customer.created_at:%Y-%m-%d %H:%M} UTC",
        "email_verified": "2026-01-02 03:04 UTC",
        "role": "PREMIUM",
        "membership_status": "ACTIVE",
        "plan": f"Pro Plan ({customer.stripe_product_id})",
        "stripe_customer_id": "cus_carol42",
        "tokens": "4037",
        "tokens_expires_at": "2099-01-01 00:00 UTC",
    }
    for key, value in profile.items():
        row = re.search(rf'<tr id="bo-field-{key}"><th>[^<]+</th><td>([^<]*)</td>', page)
        assert row and row.group(1) == value, key
    # Subscriptions: status, product, price, period, cancel at period end.
    subscriptions = section(page, "subscriptions")
    for text in ("active", "Pro Plan", "19.00 EUR/month", "2026-03-01 00:00 UTC", "yes"):
        assert text in subscriptions, text
    # Payments, newest first, money in its currency's unit.
    payments = section(page, "payments")
    assert "19.00 EUR" in payments and "500 JPY" in payments and "failed" in payments
    assert payments.index("pi_c2") < payments.index("pi_c1")
    # The ledger: newest first, kind, signed change, balance after, reason, actor.
    ledger = section(page, "ledger")
    assert ledger.index("DEDUCT") < ledger.index("GRANT")
    for text in ("-3", "+4040", "4037", "Welcome bonus", "Refunded twice by mistake", "cli"):
        assert text in ledger, text
    # Accounts by provider only; only sessions that have not expired.
    assert "google" in section(page, "accounts") and "github" in section(page, "accounts")
    assert section(page, "sessions").count("<li>") == 1
    # Posts, published or not.
    posts = section(page, "posts")
    assert "Ten tips for <b>tea</b>" in posts and "Unfinished draft" in posts
    assert "<td>yes</td>" in posts and "<td>no</td>" in posts
    # History: the audit rows of this user, newest first, with their reasons.
    history = section(page, "history")
    assert history.index("tokens.deduct") < history.index("tokens.grant")
    assert "Refunded twice by mistake" in history


def section(page: str, name: str) -> str:
    """The HTML from a section's heading to the next heading."""
    start = page.index(f'id="bo-{name}"')
    end = page.find("<h4", start + 1)
    return page[start : end if end > 0 else len(page)]


def test_user_text_is_escaped(app, customer):
    response = signed_in(app, "SUPPORT").get(f"/admin/customer/{customer.id}")
    assert "Ten tips for &lt;b&gt;tea&lt;/b&gt;" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["ADMIN", "SUPPORT", "EDITOR"])
def test_no_secret_ever_appears(app, customer, role):
    response = signed_in(app, role).get(f"/admin/customer/{customer.id}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in body, secret


def test_the_page_obeys_the_content_security_policy(app, customer):
    body = signed_in(app, "ADMIN").get(f"/admin/customer/{customer.id}").get_data(as_text=True)
    assert not INLINE_HANDLER.search(body) and not INLINE_STYLE.search(body)


def test_editor_sees_only_id_email_and_name(app, customer):
    response = signed_in(app, "EDITOR").get(f"/admin/customer/{customer.id}")
    page = text_of(response)
    shown = re.findall(r'<tr id="bo-field-(\w+)">', page)
    assert shown == ["id", "email", "name"]
    for hidden in ("4037", "cus_carol42", "pi_c1", "Pro Plan", "Welcome bonus", "google"):
        assert hidden not in page, hidden
    for name in ("subscriptions", "payments", "ledger", "accounts", "sessions", "history"):
        assert f'id="bo-{name}"' not in page, name
    assert (
        'id="bo-actions"' not in page and '<form method="post" action="/admin/customer' not in page
    )
    # Posts are the one section EDITOR's role may read (VIEW on BlogPost).
    assert "Unfinished draft" in section(page, "posts")


@pytest.mark.parametrize(
    ("role", "forms"),
    [
        ("ADMIN", {"bo-tokens-form", "bo-ban-form", "bo-customer-sign-out-form"}),
        ("SUPPORT", {"bo-tokens-form", "bo-ban-form", "bo-customer-sign-out-form"}),
        ("EDITOR", set()),
    ],
)
def test_actions_show_only_for_roles_allowed_to_use_them(app, customer, role, forms):
    page = signed_in(app, role).get(f"/admin/customer/{customer.id}").get_data(as_text=True)
    assert (
        set(re.findall(r'<form method="post" action="/admin/customer/[^"]+" id="([\w-]+)"', page))
        == forms
    )


@pytest.mark.parametrize(
    ("role", "offered"), [("ADMIN", True), ("EDITOR", True), ("SUPPORT", False)]
)
def test_roles_that_generate_posts_can_start_one_from_the_page(app, customer, role, offered):
    client = signed_in(app, role)
    page = client.get(f"/admin/customer/{customer.id}").get_data(as_text=True)
    link = re.search(r'id="bo-generate-for" href="([^"]+)"', page)
    assert (link is not None) == offered
    if link:
        generate = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert customer.email in generate  # the Generate page opens for this customer


def test_a_banned_customer_offers_unban_instead_of_ban(app, customer):
    user_ban(user_id=customer.id, reason="Spam", actor=SYSTEM)
    page = text_of(signed_in(app, "SUPPORT").get(f"/admin/customer/{customer.id}"))
    assert 'id="bo-unban-form"' in page and 'id="bo-ban-form"' not in page
    ban = re.search(r'<tr id="bo-field-ban"><th>Ban</th><td>([^<]*)</td>', page).group(1)
    assert ban.startswith("since ") and "by cli (no end): Spam" in ban


def test_anonymous_visitors_are_sent_to_sign_in(app, client, customer):
    response = client.get(f"/admin/customer/{customer.id}")
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")


@pytest.mark.parametrize(
    ("user_id", "shown"),
    [("nobody-here", "nobody-here"), ("a%00b", "ab"), ("x" * 5000, "x" * 100), ("%25", "%")],
)
def test_an_unknown_user_is_a_clear_404(app, user_id, shown):
    response = signed_in(app, "SUPPORT").get(f"/admin/customer/{user_id}")
    assert response.status_code == 404
    assert f"No customer with id {shown}." in text_of(response)
    assert 'id="bo-find"' in text_of(response)


# -- the finder --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["Carol@Example.com", "  carol@example.COM ", "cus_carol42", "<id>"]
)
def test_find_opens_the_customer_page(app, customer, query):
    query = query.replace("<id>", customer.id)
    response = signed_in(app, "SUPPORT").get("/admin/customer/", query_string={"q": query})
    assert response.status_code == 302
    assert response.location == f"/admin/customer/{customer.id}"


@pytest.mark.parametrize(
    "query",
    ["nobody@example.com", "carol", "%", '\'; DROP TABLE "User"; --', "a\x00b", "x" * 10_000],
)
def test_find_without_a_match_says_so(app, customer, query):
    response = signed_in(app, "SUPPORT").get("/admin/customer/", query_string={"q": query})
    assert response.status_code == 200
    assert "No customer with the email, id or Stripe customer id" in text_of(response)


def test_find_lists_emails_that_differ_only_in_case(app, customer):
    twin = make_user(email="CAROL@example.com")
    db.session.commit()
    client = signed_in(app, "SUPPORT")
    page = text_of(client.get("/admin/customer/", query_string={"q": "carol@EXAMPLE.com"}))
    assert "Several customers match" in page
    assert f"/admin/customer/{customer.id}" in page and f"/admin/customer/{twin.id}" in page
    exact = client.get("/admin/customer/", query_string={"q": "CAROL@example.com"})
    assert exact.location == f"/admin/customer/{twin.id}"


def test_editor_cannot_find_by_stripe_customer_id(app, customer):
    response = signed_in(app, "EDITOR").get("/admin/customer/", query_string={"q": "cus_carol42"})
    assert response.status_code == 200 and "No customer with" in text_of(response)


def test_the_finder_is_in_the_menu_and_links_point_at_the_page(app, customer):
    client = signed_in(app, "SUPPORT")
    assert 'href="/admin/customer/"' in client.get("/admin/").get_data(as_text=True)
    with app.test_request_context():
        assert user_page_url(customer.id) == f"/admin/customer/{customer.id}"


# -- bounded: the statements a page runs do not grow with the customer's rows -----------------


# The test harness's savepoints (services commit inside the test's outer transaction).
HARNESS_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def count_statements(client, url: str) -> int:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if not statement.startswith(HARNESS_STATEMENTS):
            statements.append(statement)

    db.session.expire_all()  # as in production, where every request starts a fresh session
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return len(statements)


def test_statements_per_page_are_bounded_and_independent_of_the_rows(app, customer):
    client = signed_in(app, "SUPPORT")
    url = f"/admin/customer/{customer.id}"
    few = count_statements(client, url)
    for number in range(60):
        make_payment(customer, stripe_payment_intent_id=f"pi_many{number}")
        make_session(customer)
        make_post(customer)
        make_account(customer, provider=f"provider{number}")
    db.session.commit()
    for _ in range(60):
        tokens_grant(user_id=customer.id, amount=1, reason="Many", actor=SYSTEM)
    many = count_statements(client, url)
    assert few == many
    assert many <= 12  # signed-in staff, the profile, and one statement per section
    page = client.get(url).get_data(as_text=True)
    assert section(page, "payments").count("<tr>") == 1 + 20  # header + the latest 20
    assert section(page, "ledger").count("<tr>") == 1 + 50
    assert section(page, "history").count("<tr>") == 1 + 50
    assert "latest 20" in section(page, "payments")


def test_each_section_reads_one_row_more_than_it_shows(app, customer):
    for number in range(21):
        make_payment(customer, stripe_payment_intent_id=f"pi_x{number}")
    db.session.commit()
    found = customer_service.customer_sections(user_id=customer.id, sections=["payments"])
    assert len(found["payments"].rows) == 20 and found["payments"].more
    found = customer_service.customer_sections(user_id=customer.id, sections=["accounts"])
    assert len(found["accounts"].rows) == 2 and not found["accounts"].more


def test_history_holds_only_this_users_rows(app, customer):
    other = make_user()
    db.session.commit()
    tokens_grant(user_id=other.id, amount=5, reason="Not Carol's", actor=SYSTEM)
    db.session.add(
        AuditLog(actor_label="cli", action="x", target_model="Post", target_id=customer.id)
    )
    db.session.commit()
    rows = customer_service.customer_sections(user_id=customer.id, sections=["history"])
    reasons = [row.reason for row in rows["history"].rows]
    assert "Not Carol's" not in reasons and "x" not in [row.action for row in rows["history"].rows]
    ledger = customer_service.customer_sections(user_id=customer.id, sections=["ledger"])
    assert [row.kind for row in ledger["ledger"].rows] == [LedgerKind.DEDUCT, LedgerKind.GRANT]
