"""dashboard.services.staff.accounts: the rules for managing staff, and their audit rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, StaffAccount, StaffRole, UserRole
from dashboard.services.staff import accounts as service
from dashboard.services.staff import passwords
from tests.factories import make_staff, make_user, password_policy

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def actor_for(staff: StaffAccount) -> Actor:
    return Actor(
        label=f"staff:{staff.email}", staff_id=staff.id, role=staff.role.value, ip="10.0.0.9"
    )


def audit(action: str) -> list[AuditLog]:
    return list(db.session.execute(sa.select(AuditLog).where(AuditLog.action == action)).scalars())


def count_audit() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))


@pytest.fixture
def admin(app) -> StaffAccount:
    return make_staff("ADMIN")


def test_create_makes_a_user_and_a_staff_account_with_a_temporary_password(app, admin):
    created = service.staff_create(
        email="new.person@example.com",
        name="New Person",
        role="SUPPORT",
        actor=actor_for(admin),
        policy=password_policy(),
    )
    staff = created.staff
    assert staff.role == StaffRole.SUPPORT and staff.password_change_required
    assert staff.user.name == "New Person"
    assert passwords.verify_password(staff.password_hash, created.temporary_password)
    [row] = audit("staff.create")
    assert row.changes["role"] == {"before": None, "after": "SUPPORT"}
    assert row.ip == "10.0.0.9" and row.actor_staff_id == admin.id
    assert created.temporary_password not in str(row.changes) + str(row.details)
    assert len(audit("user.create")) == 1


def test_create_reuses_an_existing_user(app, admin):
    user = make_user(email="Existing@Example.com")
    created = service.staff_create(
        email="existing@example.com",
        role="EDITOR",
        actor=actor_for(admin),
        policy=password_policy(),
    )
    assert created.staff.user_id == user.id
    assert audit("user.create") == []


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("banned", BackofficeError, "is banned"),
        ("already staff", Conflict, "already has a staff account"),
        ("bad email", BackofficeError, "valid email"),
        ("bad role", BackofficeError, "Unknown staff role"),
    ],
)
def test_create_refuses_and_writes_nothing(app, admin, setup, error, message):
    email, role = "person@example.com", "SUPPORT"
    if setup == "banned":
        make_user(email=email, role=UserRole.BANNED)
    elif setup == "already staff":
        make_staff(user=make_user(email=email))
    elif setup == "bad email":
        email = "person at example"
    else:
        role = "OWNER"
    before = count_audit()
    with pytest.raises(error, match=message):
        service.staff_create(
            email=email, role=role, actor=actor_for(admin), policy=password_policy()
        )
    assert count_audit() == before


@pytest.mark.parametrize("role", ["SUPPORT", "EDITOR"])
def test_only_admins_manage_staff(app, role):
    other = make_staff("EDITOR")
    actor = actor_for(make_staff(role))
    calls = [
        lambda: service.staff_create(
            email="x@example.com", role="ADMIN", actor=actor, policy=password_policy()
        ),
        lambda: service.staff_change_role(staff_id=other.id, role="ADMIN", actor=actor),
        lambda: service.staff_deactivate(staff_id=other.id, actor=actor),
        lambda: service.staff_reset_password(
            staff_id=other.id, actor=actor, policy=password_policy()
        ),
        lambda: service.staff_reset_totp(staff_id=other.id, actor=actor),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert other.role == StaffRole.EDITOR and other.is_active
    assert count_audit() == 0


def test_change_role_records_before_and_after_and_the_reason(app, admin):
    staff = make_staff("EDITOR")
    service.staff_change_role(
        staff_id=staff.id,
        role="SUPPORT",
        reason="moved to the support team",
        actor=actor_for(admin),
    )
    assert staff.role == StaffRole.SUPPORT
    [row] = audit("staff.change_role")
    assert row.changes == {"role": {"before": "EDITOR", "after": "SUPPORT"}}
    assert row.reason == "moved to the support team"


def test_an_admin_never_changes_their_own_role(app, admin):
    make_staff("ADMIN")  # not the last admin: the rule is about oneself
    with pytest.raises(PermissionDenied, match="your own role"):
        service.staff_change_role(staff_id=admin.id, role="SUPPORT", actor=actor_for(admin))
    assert admin.role == StaffRole.ADMIN


def test_the_last_active_admin_is_never_demoted_or_deactivated(app, admin):
    other_admin = make_staff("ADMIN")
    service.staff_deactivate(staff_id=other_admin.id, actor=actor_for(admin))
    # other_admin is inactive now; admin is the last active one. Only the system (CLI) could
    # act on it, and even the system must keep an admin.
    system = Actor.system("cli")
    with pytest.raises(Conflict, match="last active admin"):
        service.staff_change_role(staff_id=admin.id, role="EDITOR", actor=system)
    with pytest.raises(Conflict, match="last active admin"):
        service.staff_deactivate(staff_id=admin.id, actor=system)
    assert admin.role == StaffRole.ADMIN and admin.is_active


def test_deactivation_ends_sessions_and_reactivation_restores_access(app, admin):
    staff = make_staff("SUPPORT", locked_until=None)
    version = staff.session_version
    service.staff_deactivate(staff_id=staff.id, actor=actor_for(admin), reason="left the company")
    assert not staff.is_active and staff.session_version == version + 1
    [row] = audit("staff.deactivate")
    assert row.changes == {"is_active": {"before": True, "after": False}}
    assert row.reason == "left the company"
    service.staff_reactivate(staff_id=staff.id, actor=actor_for(admin))
    assert staff.is_active and len(audit("staff.reactivate")) == 1


def test_nobody_deactivates_themselves(app, admin):
    make_staff("ADMIN")
    with pytest.raises(PermissionDenied):
        service.staff_deactivate(staff_id=admin.id, actor=actor_for(admin))


def test_reset_password_gives_a_temporary_one_and_redacts_it(app, admin):
    staff = make_staff("EDITOR", failed_sign_ins=4)
    old_hash = staff.password_hash
    reset = service.staff_reset_password(
        staff_id=staff.id, actor=actor_for(admin), policy=password_policy()
    )
    assert passwords.verify_password(staff.password_hash, reset.temporary_password)
    assert staff.password_change_required and staff.failed_sign_ins == 0
    [row] = audit("staff.reset_password")
    assert row.changes == {"password_hash": {"before": "[redacted]", "after": "[redacted]"}}
    assert old_hash not in str(row.changes)


def test_reset_totp_removes_the_second_factor(app, admin):
    staff = make_staff("EDITOR", totp_secret="JBSWY3DPEHPK3PXP", recovery_code_hashes=["x"])
    service.staff_reset_totp(staff_id=staff.id, actor=actor_for(admin))
    assert staff.totp_secret is None and staff.recovery_code_hashes == []
    [row] = audit("staff.reset_totp")
    assert row.changes == {"totp_enrolled": {"before": True, "after": False}}
    assert "JBSWY3DPEHPK3PXP" not in str(row.changes) + str(row.details)
