"""Staff accounts: who may use Backoffice, with which role.

Rules:
- Only ADMIN (``Tool.MANAGE_STAFF``) or the system (CLI) manages staff.
- An admin never changes their own role, deactivates themselves, or resets their own
  password or TOTP through these functions (their own account page does that).
- The last active ADMIN can be neither demoted nor deactivated: Backoffice always keeps
  someone who can manage staff.
- New staff and staff whose password an admin reset get a random temporary password, shown
  once, and must choose their own at the next sign-in.
- Anything that should end a staff member's live sessions (deactivation, password or TOTP
  reset) bumps ``session_version``; every browser session holding the old number is signed
  out on its next request.
Every change writes its audit row in the same transaction and commits once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import StaffAccount, StaffRole, User, UserRole
from dashboard.permissions import Tool, can
from dashboard.services.audit import audit_record, changes_between
from dashboard.services.staff import passwords
from dashboard.services.staff.passwords import PasswordPolicy

ERR_NOT_ALLOWED = "Only an admin can manage staff accounts."
ERR_NO_STAFF = "No staff account with id {staff_id}."
ERR_EMAIL = "Enter a valid email address."
ERR_ROLE = "Unknown staff role {role!r}; choose ADMIN, SUPPORT or EDITOR."
ERR_EXISTS = "{email} already has a staff account."
ERR_BANNED = "{email} is banned and cannot be given a staff account."
ERR_OWN_ROLE = "You cannot change your own role; ask another admin."
ERR_SELF = "You cannot do that to your own account here; use your account page."
ERR_LAST_ADMIN = "This is the last active admin; make someone else an admin first."
ERR_SAME_ROLE = "{email} already has the role {role}."
ERR_USER_DELETED = (
    "The user of this staff account was deleted in the seed application; it cannot sign in "
    "again. Give the person a staff account on their new user instead."
)

STAFF_FIELDS = ("role", "is_active", "user_id")


@dataclass(frozen=True)
class StaffWithPassword:
    """A staff account and the temporary password to hand over (shown once, never stored)."""

    staff: StaffAccount
    temporary_password: str


def _require_manager(actor: Actor) -> None:
    if not actor.is_system and not can(actor.role, Tool.MANAGE_STAFF):
        raise PermissionDenied(ERR_NOT_ALLOWED)


def _load(staff_id: str, *, lock: bool = True) -> StaffAccount:
    query = sa.select(StaffAccount).where(StaffAccount.id == staff_id)
    if lock:
        query = query.with_for_update(of=StaffAccount)
    staff = db.session.execute(query).scalar_one_or_none()
    if staff is None:
        raise NotFound(ERR_NO_STAFF.format(staff_id=staff_id))
    return staff


def _not_self(staff: StaffAccount, actor: Actor, message: str = ERR_SELF) -> None:
    if actor.staff_id == staff.id:
        raise PermissionDenied(message)


def _keeps_an_admin(staff: StaffAccount) -> None:
    """Refuse when ``staff`` is the only active ADMIN left (the rows are locked, so two
    admins demoting each other at once cannot both succeed)."""
    if staff.role != StaffRole.ADMIN or not staff.is_active:
        return
    admins = (
        db.session.execute(
            sa.select(StaffAccount.id)
            .where(StaffAccount.role == StaffRole.ADMIN, StaffAccount.is_active.is_(True))
            .with_for_update()
        )
        .scalars()
        .all()
    )
    if len([admin_id for admin_id in admins if admin_id != staff.id]) == 0:
        raise Conflict(ERR_LAST_ADMIN)


def _role(role: StaffRole | str) -> StaffRole:
    try:
        return StaffRole(role)
    except ValueError:
        raise BackofficeError(ERR_ROLE.format(role=role)) from None


def normalize_email(email: str) -> str:
    cleaned = (email or "").strip()
    local, _, domain = cleaned.partition("@")
    if not local or "." not in domain or " " in cleaned or len(cleaned) > 254:
        raise BackofficeError(ERR_EMAIL)
    return cleaned


def user_by_email(email: str) -> User | None:
    """The user with this email, compared without regard to case."""
    return db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == email.lower())
    ).scalar_one_or_none()


def user_create_for_staff(
    *,
    email: str,
    actor: Actor,
    purpose: str,
    name: str | None = None,
    role: UserRole = UserRole.USER,
) -> User:
    """A new seed-app User for a staff account, audited (the caller commits)."""
    user = User(email=email, name=name, role=role)
    db.session.add(user)
    db.session.flush()
    values = {"email": user.email, "name": user.name, "role": user.role}
    audit_record(
        actor=actor,
        action="user.create",
        target_model="User",
        target_id=user.id,
        changes=changes_between({}, {k: v for k, v in values.items() if v is not None}),
        details={"for": purpose},
    )
    return user


def user_make_admin(user: User, *, actor: Actor, reason: str) -> None:
    """Give the User row of an ADMIN staff member ``role = ADMIN`` (the seed application
    recognises its admins by it), audited; nothing if it has it already."""
    if user.role == UserRole.ADMIN:
        return
    audit_record(
        actor=actor,
        action="user.change_role",
        target_model="User",
        target_id=user.id,
        changes=changes_between({"role": user.role}, {"role": UserRole.ADMIN}),
        reason=reason,
    )
    user.role = UserRole.ADMIN


def _snapshot(staff: StaffAccount) -> dict:
    return {name: getattr(staff, name) for name in STAFF_FIELDS}


def staff_create(
    *,
    email: str,
    role: StaffRole | str,
    actor: Actor,
    policy: PasswordPolicy,
    name: str | None = None,
) -> StaffWithPassword:
    """Give the user with ``email`` (created if there is none) a staff account with ``role``
    and a temporary password that must be changed at the first sign-in.

    Raises PermissionDenied (not an admin), BackofficeError (bad email or role, banned user),
    Conflict (already staff)."""
    _require_manager(actor)
    email = normalize_email(email)
    staff_role = _role(role)
    user = user_by_email(email)
    if user is not None and user.role == UserRole.BANNED:
        raise BackofficeError(ERR_BANNED.format(email=user.email))
    if user is not None and db.session.scalar(
        sa.select(StaffAccount.id).where(StaffAccount.user_id == user.id)
    ):
        raise Conflict(ERR_EXISTS.format(email=user.email))
    with unit_of_work():
        if user is None:
            user = user_create_for_staff(
                email=email, name=(name or "").strip() or None, actor=actor, purpose="staff account"
            )
        temporary = passwords.generate_password()
        staff = StaffAccount(
            user_id=user.id,
            role=staff_role,
            password_hash=passwords.hash_password(temporary, policy=policy),
            password_change_required=True,
            recovery_code_hashes=[],
        )
        db.session.add(staff)
        db.session.flush()
        audit_record(
            actor=actor,
            action="staff.create",
            target_model="StaffAccount",
            target_id=staff.id,
            changes=changes_between({}, _snapshot(staff)),
            details={"email": user.email},
        )
    return StaffWithPassword(staff=staff, temporary_password=temporary)


def staff_change_role(
    *, staff_id: str, role: StaffRole | str, actor: Actor, reason: str | None = None
) -> StaffAccount:
    """Change a staff member's role. Never one's own; never the last active ADMIN's.

    Raises PermissionDenied, NotFound, BackofficeError (unknown or unchanged role), Conflict
    (last admin)."""
    _require_manager(actor)
    staff = _load(staff_id)
    _not_self(staff, actor, ERR_OWN_ROLE)
    new_role = _role(role)
    if new_role == staff.role:
        raise BackofficeError(ERR_SAME_ROLE.format(email=staff.email, role=new_role.value))
    if new_role != StaffRole.ADMIN:
        _keeps_an_admin(staff)
    before = _snapshot(staff)
    staff.role = new_role
    _record(staff, before, action="staff.change_role", actor=actor, reason=reason)
    return staff


def _record(
    staff: StaffAccount,
    before: dict[str, object],
    *,
    action: str,
    actor: Actor,
    reason: str | None,
) -> None:
    """Audit what changed on ``staff`` since ``before`` and commit both together."""
    with unit_of_work():
        audit_record(
            actor=actor,
            action=action,
            target_model="StaffAccount",
            target_id=staff.id,
            changes=changes_between(before, _snapshot(staff)),
            details={"email": staff.email},
            reason=(reason or "").strip() or None,
        )


def staff_deactivate(*, staff_id: str, actor: Actor, reason: str | None = None) -> StaffAccount:
    """Take away a staff member's access at once (their live sessions end on their next
    request). Not oneself; not the last active ADMIN.

    Raises PermissionDenied, NotFound, Conflict."""
    _require_manager(actor)
    staff = _load(staff_id)
    _not_self(staff, actor)
    if not staff.is_active:
        return staff
    _keeps_an_admin(staff)
    before = _snapshot(staff)
    staff.is_active = False
    staff.session_version += 1
    _record(staff, before, action="staff.deactivate", actor=actor, reason=reason)
    return staff


def staff_reactivate(*, staff_id: str, actor: Actor) -> StaffAccount:
    """Give a deactivated staff member access again (and lift any lockout).

    Raises PermissionDenied, NotFound."""
    _require_manager(actor)
    staff = _load(staff_id)
    if staff.is_active:
        return staff
    if staff.user_id is None:
        raise BackofficeError(ERR_USER_DELETED)
    with unit_of_work():
        before = _snapshot(staff)
        staff.is_active = True
        staff.failed_sign_ins = 0
        staff.locked_until = None
        audit_record(
            actor=actor,
            action="staff.reactivate",
            target_model="StaffAccount",
            target_id=staff.id,
            changes=changes_between(before, _snapshot(staff)),
            details={"email": staff.email},
        )
    return staff


def staff_reset_password(
    *, staff_id: str, actor: Actor, policy: PasswordPolicy
) -> StaffWithPassword:
    """Replace someone else's password with a temporary one (shown once to the admin),
    which they must change at their next sign-in. Ends their sessions and lifts a lockout.

    Raises PermissionDenied, NotFound."""
    _require_manager(actor)
    staff = _load(staff_id)
    _not_self(staff, actor)
    with unit_of_work():
        temporary = passwords.generate_password()
        staff.password_hash = passwords.hash_password(temporary, policy=policy)
        staff.password_change_required = True
        staff.failed_sign_ins = 0
        staff.locked_until = None
        staff.session_version += 1
        audit_record(
            actor=actor,
            action="staff.reset_password",
            target_model="StaffAccount",
            target_id=staff.id,
            changes={"password_hash": {"before": "", "after": ""}},
            details={"email": staff.email},
        )
    return StaffWithPassword(staff=staff, temporary_password=temporary)


def staff_reset_totp(*, staff_id: str, actor: Actor) -> StaffAccount:
    """Remove someone else's TOTP and recovery codes (a lost phone). They enrol again at
    their next sign-in where TOTP is required. Ends their sessions.

    Raises PermissionDenied, NotFound."""
    _require_manager(actor)
    staff = _load(staff_id)
    _not_self(staff, actor)
    with unit_of_work():
        was_enrolled = staff.totp_enrolled
        staff.totp_secret = None
        staff.totp_last_step = None
        staff.recovery_code_hashes = []
        staff.session_version += 1
        audit_record(
            actor=actor,
            action="staff.reset_totp",
            target_model="StaffAccount",
            target_id=staff.id,
            changes={"totp_enrolled": {"before": was_enrolled, "after": False}},
            details={"email": staff.email},
        )
    return staff
