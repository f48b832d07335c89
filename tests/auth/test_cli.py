"""``flask setup-admin`` and ``flask staff create-demo``."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog, StaffAccount, StaffRole, User, UserRole
from dashboard.services.staff import passwords
from dashboard.services.staff.credentials import DEMO_STAFF
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")

PASSWORD = "a long enough password"


def staff_of(email: str) -> StaffAccount | None:
    db.session.expire_all()
    return db.session.execute(
        sa.select(StaffAccount).join(User).where(User.email == email)
    ).scalar_one_or_none()


def test_setup_admin_creates_the_user_and_an_admin_staff_account(app, runner):
    result = runner.invoke(
        args=["setup-admin", "root@example.com", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com (new user)" in result.output
    staff = staff_of("root@example.com")
    assert staff.role == StaffRole.ADMIN and staff.is_active
    assert staff.user.role == UserRole.ADMIN
    assert passwords.verify_password(staff.password_hash, PASSWORD)
    assert PASSWORD not in result.output
    actions = db.session.execute(sa.select(AuditLog.action, AuditLog.actor_label)).all()
    assert ("staff.setup_admin", "cli") in actions and ("user.create", "cli") in actions


def test_setup_admin_promotes_an_existing_user_and_lifts_a_lockout(app, runner):
    user = make_user(email="boss@example.com")
    staff = make_staff("EDITOR", user=user, is_active=False, failed_sign_ins=3)
    db.session.commit()
    result = runner.invoke(
        args=["setup-admin", "boss@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Updated admin" in result.output
    staff = staff_of("boss@example.com")
    assert (staff.role, staff.is_active, staff.failed_sign_ins) == (StaffRole.ADMIN, True, 0)
    assert staff.user.role == UserRole.ADMIN
    [row] = db.session.execute(
        sa.select(AuditLog).where(AuditLog.action == "user.change_role")
    ).scalars()
    assert row.changes == {"role": {"before": "USER", "after": "ADMIN"}}


def test_setup_admin_with_totp_prints_the_enrolment_uri_and_recovery_codes(app, runner):
    result = runner.invoke(
        args=["setup-admin", "ops@example.com", "--password-stdin", "--totp"], input=PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert re.search(
        r"otpauth://totp/Backoffice:ops%40example\.com\?secret=[A-Z2-7]+", result.output
    )
    codes = re.findall(r"^  ([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})$", result.output, re.M)
    assert len(codes) == 10
    staff = staff_of("ops@example.com")
    assert staff.totp_secret in result.output
    assert passwords.match_recovery_code(staff.recovery_code_hashes, codes[0]) == 0


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("root@example.com", "short", "at least 12 characters"),
        ("not-an-email", PASSWORD, "valid email"),
        ("root@example.com", "root@example.com", "cannot be your email"),
    ],
)
def test_setup_admin_refuses_bad_input_and_writes_nothing(app, runner, email, password, message):
    result = runner.invoke(args=["setup-admin", email, "--password-stdin"], input=password)
    assert result.exit_code == 1 and message in result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_create_demo_makes_one_staff_member_per_role_and_is_idempotent(app, runner, client):
    first = runner.invoke(args=["staff", "create-demo"])
    assert first.exit_code == 0, first.output
    for role, email, password in DEMO_STAFF:
        assert f"{role.value:<8} {email:<26} {password}" in first.output
        staff = staff_of(email)
        assert staff.role == role and passwords.verify_password(staff.password_hash, password)
        # The seed application recognises its admins by User.role, as setup-admin sets it.
        assert (staff.user.role == UserRole.ADMIN) == (role == StaffRole.ADMIN)
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))

    staff_of("support@backoffice.test").is_active = False
    db.session.commit()
    second = runner.invoke(args=["staff", "create-demo"])
    assert second.exit_code == 0
    assert staff_of("support@backoffice.test").is_active  # repaired
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount)) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == rows + 1


def test_create_demo_refuses_in_production(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    result = runner.invoke(args=["staff", "create-demo"])
    assert result.exit_code == 1 and "never created in production" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffAccount)) == 0
