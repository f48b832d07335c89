"""Signing in: password, the one error message, lockout, the per-IP limit, cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog, UserRole
from dashboard.services.staff.sign_in import ERR_SIGN_IN
from tests.conftest import csrf_token
from tests.factories import STAFF_PASSWORD, make_staff, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def audit_rows(action: str) -> list[AuditLog]:
    return list(
        db.session.execute(
            sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()
    )


def post_password(client, email: str, password: str, **kwargs):
    return client.post(
        "/auth/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        **kwargs,
    )


def is_signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_staff_signs_in_with_email_and_password(app, client, sign_in):
    staff = make_staff("SUPPORT")
    response = sign_in(client, staff)
    assert response.status_code == 302 and response.location == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and staff.email in page.get_data(as_text=True)
    [row] = audit_rows("auth.sign_in")
    assert (row.actor_staff_id, row.target_id, row.ip) == (staff.id, staff.id, "127.0.0.1")
    assert staff.last_sign_in_at is not None and staff.last_sign_in_ip == "127.0.0.1"


def test_sign_in_starts_a_fresh_session(app, client, sign_in):
    staff = make_staff()
    old_token = csrf_token(client)
    with client.session_transaction() as session:
        session["planted"] = "by someone before sign-in"
    sign_in(client, staff)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") is None  # a new token is made on the next form
    response = client.post("/auth/sign-out", data={"csrf_token": old_token})
    assert response.status_code == 400  # the token from before sign-in is dead


def test_email_is_matched_without_regard_to_case(app, client):
    staff = make_staff(user=make_user(email="Mixed.Case@Example.com"))
    response = post_password(client, "mixed.case@example.COM", STAFF_PASSWORD)
    assert response.status_code == 302 and is_signed_in(client)
    assert staff.last_sign_in_at is not None


@pytest.mark.parametrize(
    ("situation", "why"),
    [
        ("unknown email", "unknown email"),
        ("wrong password", "wrong password"),
        ("deactivated", "deactivated"),
        ("banned user", "user banned"),
    ],
)
def test_every_failure_gives_the_same_answer(app, client, situation, why):
    staff = make_staff()
    email, password = staff.email, STAFF_PASSWORD
    if situation == "unknown email":
        email = "nobody@example.com"
    elif situation == "wrong password":
        password = "not the password at all"
    elif situation == "deactivated":
        staff.is_active = False
    else:
        staff.user.role = UserRole.BANNED
    db.session.flush()
    response = post_password(client, email, password)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert ERR_SIGN_IN in text
    assert not is_signed_in(client)
    [row] = audit_rows("auth.sign_in_failed")
    assert row.details["why"] == why and row.ip == "127.0.0.1"
    assert password not in str(row.details)


def test_five_failures_lock_the_account_for_fifteen_minutes(app, client, frozen_clock):
    staff = make_staff()
    for _ in range(5):
        post_password(client, staff.email, "wrong password here")
    [lockout] = audit_rows("auth.lockout")
    assert lockout.target_id == staff.id and lockout.details["minutes"] == 15
    assert staff.locked_until == frozen_clock.current + timedelta(minutes=15)

    # Locked: even the right password is refused, with the same message.
    response = post_password(client, staff.email, STAFF_PASSWORD)
    assert ERR_SIGN_IN in response.get_data(as_text=True) and not is_signed_in(client)
    assert audit_rows("auth.sign_in_failed")[-1].details["why"] == "locked"

    frozen_clock.advance(minutes=14, seconds=59)
    post_password(client, staff.email, STAFF_PASSWORD)
    assert not is_signed_in(client)
    frozen_clock.advance(seconds=2)
    response = post_password(client, staff.email, STAFF_PASSWORD)
    assert response.status_code == 302 and is_signed_in(client)
    assert (staff.failed_sign_ins, staff.lockouts, staff.locked_until) == (0, 0, None)


def test_a_repeated_lockout_lasts_longer(app, client, frozen_clock):
    staff = make_staff()
    minutes = []
    for _ in range(3):
        for _ in range(5):
            post_password(client, staff.email, "wrong password here")
        minutes.append(audit_rows("auth.lockout")[-1].details["minutes"])
        frozen_clock.advance(minutes=minutes[-1], seconds=1)
    assert minutes == [15, 30, 60]


def test_lockout_length_is_capped(app, monkeypatch):
    from dashboard.services.staff.sign_in import SignInPolicy, lockout_minutes

    monkeypatch.setitem(app.config, "SIGN_IN_LOCKOUT_MAX_MINUTES", 100)
    policy = SignInPolicy.from_config(app.config)
    assert [lockout_minutes(n, policy=policy) for n in (1, 2, 3, 4, 50)] == [15, 30, 60, 100, 100]


def test_the_per_ip_limit_stops_guessing_across_accounts(app, client, frozen_clock, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_IP_LIMIT", 3)
    staff = make_staff()
    for number in range(3):
        post_password(client, f"guess{number}@example.com", "whatever password")
    [limited] = audit_rows("auth.ip_limited")
    assert limited.ip == "127.0.0.1"

    response = post_password(client, staff.email, STAFF_PASSWORD)
    assert response.status_code == 429 and ERR_SIGN_IN in response.get_data(as_text=True)
    assert not is_signed_in(client)

    other = app.test_client()
    response = post_password(
        other, staff.email, STAFF_PASSWORD, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert response.status_code == 302  # another address is not affected

    frozen_clock.advance(minutes=16)
    assert post_password(client, staff.email, STAFF_PASSWORD).status_code == 302


def test_next_goes_only_to_paths_on_this_site(app, client):
    staff = make_staff()
    for target, expected in [
        ("/admin/users/?page=2", "/admin/users/?page=2"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/x", "/admin/"),
        ("/\\evil.example", "/admin/"),
    ]:
        response = client.post(
            "/auth/sign-in",
            query_string={"next": target},
            data={
                "email": staff.email,
                "password": STAFF_PASSWORD,
                "csrf_token": csrf_token(client),
            },
        )
        assert response.location == expected
        client.post("/auth/sign-out", data={"csrf_token": csrf_token(client)})


def test_anonymous_visit_is_sent_to_sign_in_and_back(app, client):
    staff = make_staff()
    response = client.get("/admin/users/?search=abc")
    assert response.status_code == 302
    assert response.location == "/auth/sign-in?next=/admin/users/?search%3Dabc"
    response = client.post(
        response.location,
        data={"email": staff.email, "password": STAFF_PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.location == "/admin/users/?search=abc"


def test_sign_out_ends_every_session_of_the_staff_member(app, client, sign_in):
    staff = make_staff()
    sign_in(client, staff)
    copied = app.test_client()
    with client.session_transaction() as original, copied.session_transaction() as copy:
        copy.update(original)  # a stolen or second-browser copy of the cookie
    assert is_signed_in(copied)
    version = staff.session_version

    response = client.post("/auth/sign-out", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.location == "/auth/sign-in"
    assert not is_signed_in(client)
    assert not is_signed_in(copied)
    assert staff.session_version == version + 1
    [row] = audit_rows("auth.sign_out")
    assert row.actor_staff_id == staff.id


def test_sign_out_is_post_only(app, client, sign_in):
    sign_in(client, make_staff())
    assert client.get("/auth/sign-out").status_code == 405
    assert is_signed_in(client)


def test_session_cookie_is_httponly_lax_and_never_remembered(app, client):
    response = client.get("/auth/sign-in")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie  # gone when the browser closes
    assert "Secure" not in cookie  # testing runs over plain http
    assert "remember" not in client.get("/auth/sign-in").get_data(as_text=True).lower()


def test_production_cookies_are_secure():
    from dashboard import create_app

    app = create_app(
        {"BACKOFFICE_ENV": "production", "SECRET_KEY": "p" * 40, "DATABASE_URL": "sqlite://"}
    )
    response = app.test_client().get("/auth/sign-in")
    assert "Secure" in response.headers["Set-Cookie"]
    assert app.config["REQUIRE_TOTP"] is True
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_sign_in_page_sends_signed_in_staff_home(app, client, sign_in):
    sign_in(client, make_staff())
    response = client.get("/auth/sign-in")
    assert response.status_code == 302 and response.location == "/admin/"


@pytest.mark.backends("postgresql")  # two apps at once: SQLite would lock
def test_a_forwarded_address_counts_only_behind_trusted_proxies(app, client, database_url):
    from dashboard import create_app
    from tests.conftest import rolled_back, settings_for

    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    post_password(client, "nobody@example.com", "whatever password", headers=forwarded)
    assert audit_rows("auth.sign_in_failed")[-1].ip == "127.0.0.1"  # no proxy is trusted

    behind_proxy = create_app(settings_for(database_url, PROXY_FIX_HOPS=1))
    with rolled_back(behind_proxy):
        other = behind_proxy.test_client()
        post_password(other, "nobody@example.com", "whatever password", headers=forwarded)
        assert audit_rows("auth.sign_in_failed")[-1].ip == "203.0.113.7"
