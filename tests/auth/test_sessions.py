"""Live sessions end: after 30 idle minutes, after 8 hours, and at once when the staff
member is deactivated, their user banned, or their password reset."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, UserRole
from dashboard.services.staff.accounts import staff_deactivate, staff_reset_password
from tests.factories import make_staff, password_policy

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def ended(why: str) -> list[AuditLog]:
    return [
        row
        for row in db.session.execute(
            sa.select(AuditLog).where(AuditLog.action == "auth.session_ended")
        ).scalars()
        if row.details["why"] == why
    ]


def status(client) -> int:
    return client.get("/admin/users/").status_code


@pytest.fixture
def signed_in_client(app, client, sign_in, frozen_clock):
    staff = make_staff("SUPPORT")
    sign_in(client, staff)
    client.staff = staff
    return client


def test_idle_session_ends_after_thirty_minutes(app, signed_in_client, frozen_clock):
    client = signed_in_client
    frozen_clock.advance(minutes=29)
    assert status(client) == 200  # activity moves the idle deadline
    frozen_clock.advance(minutes=29)
    assert status(client) == 200
    frozen_clock.advance(minutes=30, seconds=1)
    response = client.get("/admin/users/")
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")
    page = client.get(response.location).get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    [row] = ended("idle")
    assert row.target_id == client.staff.id
    assert status(client) == 302  # and it stays ended


def test_session_ends_after_eight_hours_however_active(app, signed_in_client, frozen_clock):
    client = signed_in_client
    for _ in range(16):
        frozen_clock.advance(minutes=29)
        assert status(client) == 200
    frozen_clock.advance(minutes=16)  # 7 h 44 min
    assert status(client) == 200
    frozen_clock.advance(minutes=17)  # 8 h 1 min
    assert status(client) == 302
    assert "8-hour limit" in client.get("/auth/sign-in").get_data(as_text=True)
    assert len(ended("too old")) == 1


def test_timeouts_are_configurable(app, signed_in_client, frozen_clock, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    frozen_clock.advance(minutes=4)
    assert status(signed_in_client) == 200
    frozen_clock.advance(minutes=6)
    assert status(signed_in_client) == 302


def test_deactivated_staff_is_signed_out_on_the_next_request(app, signed_in_client):
    assert status(signed_in_client) == 200
    admin = make_staff("ADMIN")
    staff_deactivate(
        staff_id=signed_in_client.staff.id, actor=Actor("staff:a", staff_id=admin.id, role="ADMIN")
    )
    response = signed_in_client.get("/admin/users/")
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")
    assert "Your session has ended" in signed_in_client.get("/auth/sign-in").get_data(as_text=True)
    assert len(ended("revoked")) == 1


def test_staff_whose_user_is_banned_is_signed_out(app, signed_in_client):
    assert status(signed_in_client) == 200
    signed_in_client.staff.user.role = UserRole.BANNED
    db.session.commit()
    assert status(signed_in_client) == 302


def test_a_password_reset_ends_live_sessions(app, signed_in_client):
    admin = make_staff("ADMIN")
    staff_reset_password(
        staff_id=signed_in_client.staff.id,
        actor=Actor("staff:a", staff_id=admin.id, role="ADMIN"),
        policy=password_policy(),
    )
    assert status(signed_in_client) == 302


def test_a_session_with_an_old_version_gets_nowhere(app, client):
    staff = make_staff("ADMIN")
    with client.session_transaction() as session:
        session["_user_id"] = f"{staff.id}:{staff.session_version + 1}"
        session["bo_signed_in_at"] = session["bo_seen_at"] = 10**10
    assert status(client) == 302
