"""A staff member's own credentials: password, TOTP enrolment, recovery codes; and the two
ways staff come to exist outside the Staff view (``flask setup-admin`` and the demo).

Rules:
- Passwords: at least ``PASSWORD_MIN_LENGTH`` (>= 12) characters, not the email; stored as
  argon2id hashes only.
- TOTP is enrolled by proving a code from the new secret; enrolment replaces the recovery
  codes with ten fresh ones, stored hashed and shown once.
- Demo staff exist only outside production.
Every change is audited in its own transaction (one commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from dashboard.core import clock
from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import StaffAccount, StaffRole, UserRole
from dashboard.services.audit import audit_record, changes_between
from dashboard.services.staff import passwords, totp
from dashboard.services.staff.accounts import (
    normalize_email,
    user_by_email,
    user_create_for_staff,
    user_make_admin,
)
from dashboard.services.staff.passwords import PasswordPolicy

ERR_NO_STAFF = "No staff account with id {staff_id}."
ERR_CURRENT_PASSWORD = "Your current password is not right."
ERR_SAME_PASSWORD = "Choose a password different from the current one."
ERR_TOTP_CODE = "That code does not match; check the time on your phone and try again."
ERR_NOT_ENROLLED = "Set up two-step sign-in first."
ERR_DEMO_IN_PRODUCTION = "Demo staff accounts are never created in production."

# Demo sign-ins printed by `flask staff create-demo` (development and testing only).
DEMO_STAFF = (
    (StaffRole.ADMIN, "admin@backoffice.test", "demo-admin-password"),
    (StaffRole.SUPPORT, "support@backoffice.test", "demo-support-password"),
    (StaffRole.EDITOR, "editor@backoffice.test", "demo-editor-password"),
)


def _load(staff_id: str) -> StaffAccount:
    staff = db.session.execute(
        sa.select(StaffAccount).where(StaffAccount.id == staff_id).with_for_update(of=StaffAccount)
    ).scalar_one_or_none()
    if staff is None:
        raise NotFound(ERR_NO_STAFF.format(staff_id=staff_id))
    return staff


def _check_password(password: str, email: str, policy: PasswordPolicy) -> None:
    problem = passwords.password_problem(password, email=email, policy=policy)
    if problem:
        raise BackofficeError(problem)


def staff_change_password(
    *,
    staff_id: str,
    new_password: str,
    actor: Actor,
    policy: PasswordPolicy,
    current_password: str | None = None,
) -> StaffAccount:
    """Set a staff member's own password. ``current_password`` is checked when given (the
    account page); the forced change during sign-in has just checked it. Ends the staff
    member's other sessions (``session_version`` + 1): the caller re-signs the current one.

    Raises NotFound, BackofficeError (wrong current password, weak or unchanged password)."""
    staff = _load(staff_id)
    if current_password is not None and not passwords.verify_password(
        staff.password_hash, current_password
    ):
        raise BackofficeError(ERR_CURRENT_PASSWORD)
    _check_password(new_password, staff.email, policy)
    if passwords.verify_password(staff.password_hash, new_password):
        raise BackofficeError(ERR_SAME_PASSWORD)
    with unit_of_work():
        staff.password_hash = passwords.hash_password(new_password, policy=policy)
        was_required = staff.password_change_required
        staff.password_change_required = False
        staff.session_version += 1
        audit_record(
            actor=actor,
            action="staff.change_password",
            target_model="StaffAccount",
            target_id=staff.id,
            changes={"password_hash": {"before": "", "after": ""}},
            details={"forced": was_required},
        )
    return staff


def staff_enroll_totp(
    *, staff_id: str, secret: str, code: str, actor: Actor, policy: PasswordPolicy
) -> list[str]:
    """Turn on TOTP with ``secret`` once ``code`` proves the authenticator has it. Returns
    ten new recovery codes (shown once; only their hashes are kept).

    Raises NotFound, BackofficeError (wrong code)."""
    staff = _load(staff_id)
    step = totp.matching_step(secret, code, now=clock.now(), last_step=None)
    if step is None:
        raise BackofficeError(ERR_TOTP_CODE)
    with unit_of_work():
        was_enrolled = staff.totp_enrolled
        codes = passwords.generate_recovery_codes()
        staff.totp_secret = secret
        staff.totp_last_step = step
        staff.recovery_code_hashes = [passwords.hash_recovery_code(c, policy=policy) for c in codes]
        audit_record(
            actor=actor,
            action="staff.enroll_totp",
            target_model="StaffAccount",
            target_id=staff.id,
            changes={"totp_enrolled": {"before": was_enrolled, "after": True}},
        )
    return codes


def staff_regenerate_recovery_codes(
    *, staff_id: str, actor: Actor, policy: PasswordPolicy
) -> list[str]:
    """Replace all recovery codes with ten new ones (the old ones stop working).

    Raises NotFound, BackofficeError (TOTP not enrolled)."""
    staff = _load(staff_id)
    if not staff.totp_enrolled:
        raise BackofficeError(ERR_NOT_ENROLLED)
    with unit_of_work():
        codes = passwords.generate_recovery_codes()
        staff.recovery_code_hashes = [passwords.hash_recovery_code(c, policy=policy) for c in codes]
        audit_record(
            actor=actor,
            action="staff.regenerate_recovery_codes",
            target_model="StaffAccount",
            target_id=staff.id,
            details={"count": len(codes)},
        )
    return codes


@dataclass
class AdminSetup:
    staff: StaffAccount
    created_user: bool
    created_staff: bool
    totp_uri: str | None = None
    recovery_codes: list[str] = field(default_factory=list)


def staff_setup_admin(
    *, email: str, password: str, actor: Actor, policy: PasswordPolicy, with_totp: bool = False
) -> AdminSetup:
    """``flask setup-admin``: make ``email`` an administrator. Creates the user if needed,
    sets ``User.role`` to ADMIN, creates or updates the staff account (role ADMIN, active,
    this password, lockout lifted). With ``with_totp`` a new TOTP secret and recovery codes
    replace any old ones and are returned for printing.

    Raises BackofficeError (bad email, weak password)."""
    email = normalize_email(email)
    _check_password(password, email, policy)
    user = user_by_email(email)
    created_user = user is None
    with unit_of_work():
        if user is None:
            user = user_create_for_staff(
                email=email, role=UserRole.ADMIN, actor=actor, purpose="flask setup-admin"
            )
        else:
            user_make_admin(user, actor=actor, reason="flask setup-admin")
        staff = db.session.execute(
            sa.select(StaffAccount).where(StaffAccount.user_id == user.id)
        ).scalar_one_or_none()
        created_staff = staff is None
        before = {} if staff is None else {"role": staff.role, "is_active": staff.is_active}
        if staff is None:
            staff = StaffAccount(user_id=user.id, role=StaffRole.ADMIN, recovery_code_hashes=[])
            db.session.add(staff)
        staff.role = StaffRole.ADMIN
        staff.is_active = True
        staff.password_hash = passwords.hash_password(password, policy=policy)
        staff.password_change_required = False
        staff.failed_sign_ins = 0
        staff.locked_until = None
        staff.session_version = (staff.session_version or 1) + (0 if created_staff else 1)
        result = AdminSetup(staff=staff, created_user=created_user, created_staff=created_staff)
        if with_totp:
            secret = totp.new_secret()
            codes = passwords.generate_recovery_codes()
            staff.totp_secret = secret
            staff.totp_last_step = None
            staff.recovery_code_hashes = [
                passwords.hash_recovery_code(c, policy=policy) for c in codes
            ]
            result.totp_uri = totp.provisioning_uri(secret, user.email)
            result.recovery_codes = codes
        db.session.flush()
        audit_record(
            actor=actor,
            action="staff.setup_admin",
            target_model="StaffAccount",
            target_id=staff.id,
            changes=changes_between(before, {"role": staff.role, "is_active": True})
            | {"password_hash": {"before": "", "after": ""}},
            details={"email": user.email, "totp": with_totp},
        )
    return result


def staff_ensure_demo(
    *, actor: Actor, policy: PasswordPolicy, env_name: str
) -> list[tuple[StaffRole, str, str]]:
    """Make sure the demo staff of ``DEMO_STAFF`` exist, active, with their known passwords
    and no TOTP (idempotent). Returns (role, email, password) rows to print. ``env_name``
    is the configured ENV_NAME.

    Raises PermissionDenied in production."""
    if env_name == "production":
        raise PermissionDenied(ERR_DEMO_IN_PRODUCTION)
    with unit_of_work():
        for role, email, password in DEMO_STAFF:
            user = user_by_email(email)
            if user is None:
                user = user_create_for_staff(
                    email=email,
                    name=f"Demo {role.value.title()}",
                    actor=actor,
                    purpose="demo staff",
                )
            if user.role == UserRole.BANNED:
                user.role = UserRole.USER
            if role == StaffRole.ADMIN:
                user_make_admin(user, actor=actor, reason="demo ADMIN staff")
            staff = db.session.execute(
                sa.select(StaffAccount).where(StaffAccount.user_id == user.id)
            ).scalar_one_or_none()
            if staff is None:
                staff = StaffAccount(user_id=user.id, role=role, recovery_code_hashes=[])
                db.session.add(staff)
            elif passwords.verify_password(staff.password_hash, password) and (
                staff.role == role and staff.is_active and not staff.totp_secret
            ):
                continue
            staff.role = role
            staff.is_active = True
            staff.password_hash = passwords.hash_password(password, policy=policy)
            staff.password_change_required = False
            staff.totp_secret = None
            staff.recovery_code_hashes = []
            staff.failed_sign_ins = 0
            staff.locked_until = None
            db.session.flush()
            audit_record(
                actor=actor,
                action="staff.demo",
                target_model="StaffAccount",
                target_id=staff.id,
                details={"email": email, "role": role.value},
            )
    return list(DEMO_STAFF)
