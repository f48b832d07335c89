"""The Staff view: what an admin sees and each button, end to end."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog, StaffAccount, StaffRole
from dashboard.services.staff import passwords
from tests.conftest import csrf_token, sign_in_with_forms
from tests.factories import make_staff


@pytest.fixture
def admin_client(app):
    client = app.test_client()
    client.staff = make_staff("ADMIN")
    sign_in_with_forms(client, client.staff)
    return client


def post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client)})


def flashed(client) -> str:
    return client.get("/admin/staff/").get_data(as_text=True)


def last_action() -> str:
    return db.session.scalar(sa.select(AuditLog.action).order_by(AuditLog.id.desc()).limit(1))


def test_the_list_shows_staff_without_secrets(app, admin_client):
    other = make_staff("EDITOR", totp_secret="JBSWY3DPEHPK3PXP")
    page = admin_client.get("/admin/staff/").get_data(as_text=True)
    assert other.email in page and "Invite staff" in page
    details = admin_client.get(f"/admin/staff/details/?id={other.id}").get_data(as_text=True)
    for secret in ("JBSWY3DPEHPK3PXP", other.password_hash):
        assert secret not in page and secret not in details
    assert "Change role" in details and "Reset two-step sign-in" in details


def test_invite_shows_a_temporary_password_once_that_must_be_changed(app, admin_client):
    response = post(
        admin_client, "/admin/staff/invite/", email="hire@example.com", name="Hire", role="SUPPORT"
    )
    page = response.get_data(as_text=True)
    password = re.search(r'id="bo-temporary-password">([a-z0-9-]+)<', page).group(1)
    staff = db.session.execute(
        sa.select(StaffAccount).where(StaffAccount.role == StaffRole.SUPPORT)
    ).scalar_one()
    assert passwords.verify_password(staff.password_hash, password)
    assert last_action() == "staff.create"
    with admin_client.session_transaction() as session:
        assert password not in str(dict(session))  # never put in the (readable) cookie

    newcomer = app.test_client()
    response = sign_in_with_forms(newcomer, staff, password=password)
    assert response.location == "/auth/password"


def test_invite_reports_a_refusal(app, admin_client):
    existing = make_staff("EDITOR")
    response = post(
        admin_client, "/admin/staff/invite/", email=existing.email, name="", role="ADMIN"
    )
    assert "already has a staff account" in response.get_data(as_text=True)


def test_change_role(app, admin_client):
    staff = make_staff("EDITOR")
    response = post(
        admin_client, "/admin/staff/change-role/", id=staff.id, role="SUPPORT", reason="needed"
    )
    assert response.location == f"/admin/staff/details/?id={staff.id}"
    assert staff.role == StaffRole.SUPPORT
    row = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (row.action, row.reason, row.actor_staff_id) == (
        "staff.change_role",
        "needed",
        admin_client.staff.id,
    )
    assert f"{staff.email} is now SUPPORT." in flashed(admin_client)


def test_an_admin_cannot_change_their_own_role_here(app, admin_client):
    me = admin_client.staff
    post(admin_client, "/admin/staff/change-role/", id=me.id, role="EDITOR")
    assert me.role == StaffRole.ADMIN
    assert "You cannot change your own role" in flashed(admin_client)


def test_deactivate_reactivate_and_reset_totp(app, admin_client):
    staff = make_staff("SUPPORT", totp_secret="JBSWY3DPEHPK3PXP")
    post(admin_client, "/admin/staff/deactivate/", id=staff.id)
    assert not staff.is_active and last_action() == "staff.deactivate"
    post(admin_client, "/admin/staff/reactivate/", id=staff.id)
    assert staff.is_active and last_action() == "staff.reactivate"
    post(admin_client, "/admin/staff/reset-totp/", id=staff.id)
    assert staff.totp_secret is None and last_action() == "staff.reset_totp"


def test_reset_password_shows_the_new_one_in_the_page_only(app, admin_client):
    staff = make_staff("EDITOR")
    response = post(admin_client, "/admin/staff/reset-password/", id=staff.id)
    password = re.search(
        r'id="bo-temporary-password">([a-z0-9-]+)<', response.get_data(as_text=True)
    ).group(1)
    assert passwords.verify_password(staff.password_hash, password)
    assert staff.password_change_required and last_action() == "staff.reset_password"


def test_a_button_without_an_id_changes_nothing(app, admin_client):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    response = post(admin_client, "/admin/staff/deactivate/")
    assert response.location == "/admin/staff/"
    assert "nothing was changed" in flashed(admin_client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before
