"""The customer page's actions (ban, unban, sign out everywhere, adjust tokens): who may use
them, what they write (change, audit row, ledger row), and that bad input writes nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.admin.views import customer_page as page
from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import (
    AuditLog,
    LedgerKind,
    Session,
    StaffAccount,
    TokenLedgerEntry,
    User,
    UserModeration,
    UserRole,
    utcnow,
)
from dashboard.services.moderation import bans as moderation
from dashboard.services.tokens import ledger as tokens
from dashboard.services.tokens.reconcile import tokens_check
from tests.conftest import csrf_token, sign_in_with_forms
from tests.factories import make_price, make_session, make_staff, make_subscription, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("cli")
NEXT_YEAR = (utcnow() + timedelta(days=365)).date()


def signed_in(app, role: str):
    client = app.test_client()
    staff = make_staff(role)
    assert sign_in_with_forms(client, staff).status_code == 302
    client.staff_email = staff.email
    return client


def post(client, user_id: str, action: str, **data):
    """POST an action as the page's form would, and follow the redirect back."""
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(f"/admin/customer/{user_id}/{action}", data=data, follow_redirects=True)


def flashes(response) -> list[str]:
    found = re.findall(
        r'<div class="alert alert-\w+ alert-dismissable">\s*'
        r"<button[^>]*>[^<]*</button>\s*(.*?)\s*</div>",
        response.get_data(as_text=True),
        re.S,
    )
    return [html.unescape(text) for text in found]


def state() -> tuple:
    """Everything an action could change."""
    db.session.expire_all()
    users = db.session.execute(
        sa.select(
            User.id, User.role, User.tokens, User.tokens_expires_at, User.membership_status
        ).order_by(User.id)
    ).all()

    def count(model) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))

    staff = db.session.execute(sa.select(StaffAccount.id, StaffAccount.session_version)).all()
    return (
        users,
        sorted(staff),
        count(TokenLedgerEntry),
        count(AuditLog),
        count(Session),
        count(UserModeration),
    )


def user_row(user_id: str) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def audit_rows(user_id: str) -> list[AuditLog]:
    return list(
        db.session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.target_model == "User", AuditLog.target_id == user_id)
            .order_by(AuditLog.id)
        )
    )


@pytest.fixture
def customer(app):
    user = make_user(email="dave@example.com", role=UserRole.USER)
    make_session(user)
    make_session(user)
    db.session.commit()
    return user


# -- ban / unban / sign out ------------------------------------------------------------------


def test_support_bans_a_user_with_a_reason(app, customer):
    client = signed_in(app, "SUPPORT")
    response = post(client, customer.id, "ban", reason="Chargeback fraud", until=str(NEXT_YEAR))
    assert response.status_code == 200 and response.request.path == f"/admin/customer/{customer.id}"
    until = datetime(NEXT_YEAR.year, NEXT_YEAR.month, NEXT_YEAR.day)
    assert flashes(response) == [
        moderation.MSG_BANNED.format(
            email="dave@example.com", until=f" until {until:%Y-%m-%d %H:%M} UTC", sessions=2
        )
    ]
    assert user_row(customer.id).role == UserRole.BANNED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Session)) == 0
    assert db.session.get(UserModeration, customer.id).banned_until == until
    (row,) = audit_rows(customer.id)
    assert (row.action, row.reason, row.actor_label) == (
        "user.ban",
        "Chargeback fraud",
        f"staff:{client.staff_email}",
    )
    assert row.ip == "127.0.0.1"
    assert 'id="bo-unban-form"' in response.get_data(as_text=True)


def test_banning_a_banned_user_is_a_clear_no_op(app, customer):
    moderation.user_ban(user_id=customer.id, reason="First", actor=SYSTEM)
    client = signed_in(app, "SUPPORT")
    before = state()
    response = post(client, customer.id, "ban", reason="Again")
    assert response.status_code == 200
    assert flashes(response) == [moderation.MSG_ALREADY_BANNED.format(email="dave@example.com")]
    assert state() == before


def test_support_may_not_ban_an_admin(app):
    admin = make_staff("ADMIN")
    db.session.commit()
    client = signed_in(app, "SUPPORT")
    before = state()
    response = post(client, admin.user_id, "ban", reason="Trying")
    assert flashes(response) == [moderation.ERR_HIGHER.format(email=admin.email, role="ADMIN")]
    assert state() == before


def test_editor_may_not_ban_unban_sign_out_or_adjust(app, customer):
    client = signed_in(app, "EDITOR")
    before = state()
    for action, data in [
        ("ban", {"reason": "x"}),
        ("unban", {"reason": "x"}),
        ("sign-out", {"reason": "x"}),
        ("tokens", {"reason": "x", "amount": "5", "direction": "grant"}),
    ]:
        response = post(client, customer.id, action, **data)
        assert response.status_code == 403, action
    assert state() == before


def test_unban_recomputes_the_role_from_subscriptions(app, customer):
    make_subscription(customer, make_price(), status="active")
    db.session.commit()
    moderation.user_ban(user_id=customer.id, reason="Oops", actor=SYSTEM)
    response = post(signed_in(app, "SUPPORT"), customer.id, "unban", reason="Appeal accepted")
    assert flashes(response) == [
        moderation.MSG_UNBANNED.format(email="dave@example.com", role="PREMIUM")
    ]
    assert user_row(customer.id).role == UserRole.PREMIUM
    assert [(r.action, r.reason) for r in audit_rows(customer.id)][-1] == (
        "user.unban",
        "Appeal accepted",
    )
    again = post(signed_in(app, "ADMIN"), customer.id, "unban", reason="Again")
    assert flashes(again) == [moderation.MSG_NOT_BANNED.format(email="dave@example.com")]


def test_sign_out_everywhere_ends_sessions_without_banning(app, customer):
    response = post(signed_in(app, "SUPPORT"), customer.id, "sign-out", reason="Lost phone")
    assert flashes(response) == [
        moderation.MSG_SIGNED_OUT.format(email="dave@example.com", sessions=2)
    ]
    assert user_row(customer.id).role == UserRole.USER
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Session)) == 0
    assert [(r.action, r.reason) for r in audit_rows(customer.id)] == [
        ("user.sign_out_everywhere", "Lost phone")
    ]


# -- adjust tokens ---------------------------------------------------------------------------


def test_support_grants_tokens_with_a_new_expiry(app, customer):
    response = post(
        signed_in(app, "SUPPORT"),
        customer.id,
        "tokens",
        direction="grant",
        amount="5",
        reason="Goodwill for the outage",
        expires=str(NEXT_YEAR),
        once="a" * 24,
    )
    expiry = datetime(NEXT_YEAR.year, NEXT_YEAR.month, NEXT_YEAR.day)
    assert flashes(response) == [
        f"Granted 5 tokens: balance 0 → 5; tokens now expire {expiry:%Y-%m-%d %H:%M} UTC."
    ]
    user = user_row(customer.id)
    assert (user.tokens, user.tokens_expires_at) == (5, expiry)
    entry = db.session.scalar(sa.select(TokenLedgerEntry))
    assert (entry.kind, entry.delta, entry.balance_after, entry.reason) == (
        LedgerKind.GRANT,
        5,
        5,
        "Goodwill for the outage",
    )
    assert entry.actor_label.startswith("staff:") and entry.actor_staff_id
    (row,) = audit_rows(customer.id)
    assert row.action == "tokens.grant" and row.changes["tokens"] == {"before": 0, "after": 5}
    assert tokens_check() == []
    assert "Goodwill for the outage" in html.unescape(response.get_data(as_text=True))


def test_support_deducts_tokens_and_sees_before_and_after(app, customer):
    tokens.tokens_grant(user_id=customer.id, amount=10, reason="Start", actor=SYSTEM)
    response = post(
        signed_in(app, "SUPPORT"),
        customer.id,
        "tokens",
        direction="deduct",
        amount="4",
        reason="Granted twice",
    )
    assert flashes(response) == ["Deducted 4 tokens: balance 10 → 6."]
    assert user_row(customer.id).tokens == 6
    assert tokens_check() == []


def test_a_double_submit_of_one_form_is_applied_once(app, customer):
    client = signed_in(app, "SUPPORT")
    form = {"direction": "grant", "amount": "7", "reason": "Once", "once": "n" * 24}
    post(client, customer.id, "tokens", **form)
    again = post(client, customer.id, "tokens", **form)
    assert flashes(again) == [page.MSG_ALREADY_APPLIED.format(before=0, after=7)]
    assert user_row(customer.id).tokens == 7
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TokenLedgerEntry)) == 1
    assert tokens_check() == []


def test_each_rendered_form_carries_its_own_nonce(app, customer):
    client = signed_in(app, "SUPPORT")
    nonces = [
        re.search(
            r'name="once" type="hidden" value="([\w-]+)"',
            client.get(f"/admin/customer/{customer.id}").get_data(as_text=True),
        ).group(1)
        for _ in range(2)
    ]
    assert nonces[0] != nonces[1] and page.NONCE.fullmatch(nonces[0])


def test_an_admin_users_tokens_may_be_adjusted_by_support(app):
    admin = make_staff("ADMIN")
    db.session.commit()
    response = post(
        signed_in(app, "SUPPORT"),
        admin.user_id,
        "tokens",
        direction="grant",
        amount="2",
        reason="r",
    )
    assert flashes(response) == ["Granted 2 tokens: balance 0 → 2."]


# -- bad input writes nothing -----------------------------------------------------------------

PAST = str((utcnow() - timedelta(days=2)).date())
TODAY = str(utcnow().date())
GRANT = {"direction": "grant", "amount": "5", "reason": "Because"}


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("tokens", {**GRANT, "reason": ""}, tokens.ERR_REASON),
        ("tokens", {**GRANT, "reason": "   "}, tokens.ERR_REASON),
        ("tokens", {**GRANT, "amount": "0"}, tokens.ERR_AMOUNT),
        ("tokens", {**GRANT, "amount": "-5"}, tokens.ERR_AMOUNT),
        ("tokens", {**GRANT, "amount": "2.5"}, tokens.ERR_AMOUNT),
        ("tokens", {**GRANT, "amount": "five"}, tokens.ERR_AMOUNT),
        ("tokens", {**GRANT, "amount": ""}, tokens.ERR_AMOUNT),
        (
            "tokens",
            {**GRANT, "amount": "9999999"},
            tokens.ERR_TOO_LARGE.format(limit=tokens.MAX_AMOUNT),
        ),
        (
            "tokens",
            {**GRANT, "direction": "deduct", "amount": "11"},
            tokens.ERR_INSUFFICIENT.format(amount=11, email="dave@example.com", balance=10),
        ),
        (
            "tokens",
            {**GRANT, "direction": "deduct", "expires": str(NEXT_YEAR)},
            page.ERR_EXPIRY_ON_DEDUCT,
        ),
        ("tokens", {**GRANT, "direction": "steal"}, page.ERR_FORM),
        ("tokens", {**GRANT, "expires": PAST}, tokens.ERR_EXPIRY_PAST),
        ("tokens", {**GRANT, "expires": TODAY}, tokens.ERR_EXPIRY_PAST),
        (
            "tokens",
            {**GRANT, "expires": "2027-13-45"},
            page.ERR_DATE.format(label=page.TokensForm.expires.args[0]),
        ),
        ("tokens", {**GRANT, "reason": "x" * 1001}, page.ERR_REASON_LONG),
        ("ban", {"reason": ""}, moderation.ERR_REASON),
        ("ban", {"reason": "Spam", "until": PAST}, moderation.ERR_UNTIL_PAST),
        ("ban", {"reason": "Spam", "until": TODAY}, moderation.ERR_UNTIL_PAST),
        (
            "ban",
            {"reason": "Spam", "until": "tomorrow"},
            page.ERR_DATE.format(label=page.BanForm.until.args[0]),
        ),
        ("unban", {"reason": " "}, moderation.ERR_REASON),
        ("sign-out", {"reason": ""}, moderation.ERR_REASON),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(app, customer, action, data, message):
    tokens.tokens_grant(user_id=customer.id, amount=10, reason="Start", actor=SYSTEM)
    client = signed_in(app, "SUPPORT")
    before = state()
    response = post(client, customer.id, action, **data)
    assert response.status_code == 200
    assert flashes(response) == [message]
    assert state() == before
    assert tokens_check() == []


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("tokens", GRANT),
        ("tokens", {**GRANT, "direction": "deduct"}),
        ("ban", {"reason": "Spam"}),
        ("unban", {"reason": "Sorry"}),
        ("sign-out", {"reason": "Lost phone"}),
    ],
)
@pytest.mark.parametrize(("user_id", "shown"), [("no-such-user", "no-such-user"), ("a%00b", "ab")])
def test_an_unknown_user_is_refused_and_changes_nothing(
    app, customer, action, data, user_id, shown
):
    client = signed_in(app, "SUPPORT")
    before = state()
    response = post(client, user_id, action, **data)
    assert response.status_code == 200 and response.request.path == "/admin/customer/"
    assert flashes(response) == [f"No user with id {shown}."]
    assert state() == before


def test_a_post_without_its_csrf_token_is_refused(app, customer):
    client = signed_in(app, "SUPPORT")
    before = state()
    response = client.post(f"/admin/customer/{customer.id}/ban", data={"reason": "Spam"})
    assert response.status_code == 400
    assert state() == before


def test_no_get_changes_anything(app, customer):
    client = signed_in(app, "ADMIN")
    before = state()
    for action in ("ban", "unban", "sign-out", "tokens"):
        assert client.get(f"/admin/customer/{customer.id}/{action}").status_code == 405
    assert state() == before
