"""Staff sign-in checks: password, second factor, lockout and the per-IP limit.

Rules:
- Every failure, whatever went wrong (unknown email, wrong password or code, deactivated
  staff, banned user, locked account), raises ``SignInFailed`` with the one message
  ``ERR_SIGN_IN``, so the answer never tells whether an account exists. An unknown email
  costs as much time as a known one.
- Each failure on an existing account counts; ``SIGN_IN_MAX_FAILURES`` in a row lock it for
  ``SIGN_IN_LOCKOUT_MINUTES``, doubling with each further lockout (at most
  ``SIGN_IN_LOCKOUT_MAX_MINUTES``) until a sign-in succeeds. A locked account is refused
  without its password being checked.
- An address with ``SIGN_IN_IP_LIMIT`` failures in the last ``SIGN_IN_IP_WINDOW_MINUTES``
  is refused (``SignInThrottled``) before anything is checked.
- Counters reset only when the whole sign-in (password and second factor) succeeds, so the
  password alone does not buy unlimited guesses at the TOTP code.
- Sign-in, sign-out, failures, lockouts and the IP limit are audited; failures commit their
  counters and audit rows even though the caller goes on to refuse.
The numbers come from ``SignInPolicy``, which the sign-in door builds from the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.core import clock
from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import AuditLog, StaffAccount, User, UserRole
from dashboard.services.audit import audit_record
from dashboard.services.staff import passwords, totp

ERR_SIGN_IN = (
    "Sign-in failed. Check your email, password and code; after repeated failures sign-in "
    "is paused for a while."
)
FAILED = "auth.sign_in_failed"
MAX_EMAIL_IN_AUDIT = 200


class SignInFailed(BackofficeError):
    status_code = 200  # the form is shown again, exactly as for a wrong password


class SignInThrottled(SignInFailed):
    status_code = 429


@dataclass(frozen=True)
class SignInPolicy:
    """The lockout and per-IP limits (the SIGN_IN_* settings) and the password policy."""

    max_failures: int
    lockout_base_minutes: int
    lockout_max_minutes: int
    ip_limit: int
    ip_window_minutes: int
    passwords: passwords.PasswordPolicy

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SignInPolicy:
        return cls(
            max_failures=int(config["SIGN_IN_MAX_FAILURES"]),
            lockout_base_minutes=int(config["SIGN_IN_LOCKOUT_MINUTES"]),
            lockout_max_minutes=int(config["SIGN_IN_LOCKOUT_MAX_MINUTES"]),
            ip_limit=int(config["SIGN_IN_IP_LIMIT"]),
            ip_window_minutes=int(config["SIGN_IN_IP_WINDOW_MINUTES"]),
            passwords=passwords.PasswordPolicy.from_config(config),
        )


def staff_actor(staff: StaffAccount, *, ip: str | None, user_agent: str | None) -> Actor:
    """The Actor for a staff member acting from a browser."""
    return Actor(
        label=f"staff:{staff.email}",
        staff_id=staff.id,
        user_id=staff.user_id,
        role=staff.role.value,
        ip=ip,
        user_agent=user_agent,
    )


def _anonymous(ip: str | None, user_agent: str | None) -> Actor:
    return Actor(label="anonymous", ip=ip, user_agent=user_agent)


def ip_failures(ip: str | None, *, now: datetime, policy: SignInPolicy) -> int:
    """Sign-in failures from ``ip`` within the IP window before ``now``."""
    since = now - timedelta(minutes=policy.ip_window_minutes)
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditLog)
        .where(AuditLog.ip == ip, AuditLog.action == FAILED, AuditLog.created_at >= since)
    )


def _check_ip(ip: str | None, now: datetime, policy: SignInPolicy) -> None:
    if ip_failures(ip, now=now, policy=policy) >= policy.ip_limit:
        raise SignInThrottled(ERR_SIGN_IN)


def lockout_minutes(lockouts: int, *, policy: SignInPolicy) -> int:
    """Length of the ``lockouts``-th lockout in a row (1-based): 15, 30, 60, ... capped."""
    base = policy.lockout_base_minutes
    cap = policy.lockout_max_minutes
    return min(cap, base * 2 ** min(max(lockouts - 1, 0), 20))


def _fail(
    *,
    staff: StaffAccount | None,
    actor: Actor,
    step: str,
    why: str,
    now: datetime,
    policy: SignInPolicy,
    email: str | None = None,
    count: bool = True,
) -> SignInFailed:
    """Record a failure (counter, lockout, audit rows), commit, and return the error to raise.

    Sign-in runs outside any caller's unit of work, so the unit here is the outermost one
    and commits: the failure stays recorded although the caller then raises."""
    details = {"step": step, "why": why}
    if email is not None:
        details["email"] = email[:MAX_EMAIL_IN_AUDIT]
    with unit_of_work():
        if staff is not None and count:
            staff.failed_sign_ins += 1
            details["failures"] = staff.failed_sign_ins
        audit_record(
            actor=actor,
            action=FAILED,
            target_model="StaffAccount" if staff else None,
            target_id=staff.id if staff else None,
            details=details,
        )
        if staff is not None and count and staff.failed_sign_ins >= policy.max_failures:
            staff.lockouts += 1
            minutes = lockout_minutes(staff.lockouts, policy=policy)
            staff.locked_until = now + timedelta(minutes=minutes)
            staff.failed_sign_ins = 0
            audit_record(
                actor=actor,
                action="auth.lockout",
                target_model="StaffAccount",
                target_id=staff.id,
                details={
                    "minutes": minutes,
                    "lockouts": staff.lockouts,
                    "until": staff.locked_until,
                },
            )
        db.session.flush()
        if ip_failures(actor.ip, now=now, policy=policy) == policy.ip_limit:
            audit_record(
                actor=actor,
                action="auth.ip_limited",
                details={"minutes": policy.ip_window_minutes},
            )
    return SignInFailed(ERR_SIGN_IN)


def _load_for_update(staff_id: str) -> StaffAccount | None:
    return db.session.execute(
        sa.select(StaffAccount).where(StaffAccount.id == staff_id).with_for_update(of=StaffAccount)
    ).scalar_one_or_none()


def _refusal(staff: StaffAccount, now: datetime) -> str | None:
    """Why this account may not sign in whatever it types, or None."""
    if not staff.is_active:
        return "deactivated"
    if staff.user is None:
        return "user deleted"
    if staff.user.role == UserRole.BANNED:
        return "user banned"
    if staff.locked_until is not None and staff.locked_until > now:
        return "locked"
    return None


def staff_sign_in_password(
    *, email: str, password: str, ip: str | None, user_agent: str | None, policy: SignInPolicy
) -> StaffAccount:
    """First step: check email and password. Returns the staff account on success (the
    caller then asks for the second factor where needed and finishes with
    ``staff_sign_in_complete``). Raises SignInThrottled or SignInFailed."""
    now = clock.now()
    _check_ip(ip, now, policy)
    email = (email or "").strip()
    staff_id = db.session.scalar(
        sa.select(StaffAccount.id)
        .join(User, User.id == StaffAccount.user_id)
        .where(sa.func.lower(User.email) == email.lower())
    )
    staff = _load_for_update(staff_id) if staff_id else None
    if staff is None:
        passwords.waste_time_like_a_verification(password, policy=policy.passwords)
        raise _fail(
            staff=None,
            actor=_anonymous(ip, user_agent),
            step="password",
            why="unknown email",
            now=now,
            policy=policy,
            email=email,
        )
    actor = staff_actor(staff, ip=ip, user_agent=user_agent)
    refusal = _refusal(staff, now)
    if refusal:
        passwords.waste_time_like_a_verification(password, policy=policy.passwords)
        raise _fail(
            staff=staff,
            actor=actor,
            step="password",
            why=refusal,
            now=now,
            policy=policy,
            count=False,
        )
    if not passwords.verify_password(staff.password_hash, password):
        raise _fail(
            staff=staff, actor=actor, step="password", why="wrong password", now=now, policy=policy
        )
    if passwords.needs_rehash(staff.password_hash or "", policy=policy.passwords):
        with unit_of_work():
            staff.password_hash = passwords.hash_password(password, policy=policy.passwords)
    return staff


def staff_sign_in_second_factor(
    *, staff_id: str, code: str, ip: str | None, user_agent: str | None, policy: SignInPolicy
) -> bool:
    """Second step: check a TOTP code, or else a one-time recovery code (which is then used
    up). Returns True when a recovery code was used. Raises SignInThrottled or SignInFailed."""
    now = clock.now()
    _check_ip(ip, now, policy)
    staff = _load_for_update(staff_id)
    if staff is None:
        raise _fail(
            staff=None,
            actor=_anonymous(ip, user_agent),
            step="totp",
            why="gone",
            now=now,
            policy=policy,
        )
    actor = staff_actor(staff, ip=ip, user_agent=user_agent)
    refusal = _refusal(staff, now) or (None if staff.totp_secret else "not enrolled")
    if refusal:
        raise _fail(
            staff=staff, actor=actor, step="totp", why=refusal, now=now, policy=policy, count=False
        )
    step = totp.matching_step(
        staff.totp_secret or "", code, now=now, last_step=staff.totp_last_step
    )
    if step is not None:
        with unit_of_work():
            staff.totp_last_step = step
        return False
    index = passwords.match_recovery_code(list(staff.recovery_code_hashes or []), code)
    if index is None:
        raise _fail(staff=staff, actor=actor, step="totp", why="wrong code", now=now, policy=policy)
    with unit_of_work():
        remaining = list(staff.recovery_code_hashes)
        del remaining[index]
        staff.recovery_code_hashes = remaining
        audit_record(
            actor=actor,
            action="auth.recovery_code_used",
            target_model="StaffAccount",
            target_id=staff.id,
            details={"remaining": len(remaining)},
        )
    return True


def staff_sign_in_allowed(staff_id: str) -> StaffAccount | None:
    """The staff account if it may still sign in now (between steps), else None."""
    staff = db.session.get(StaffAccount, staff_id)
    if staff is None or _refusal(staff, clock.now()):
        return None
    return staff


def staff_sign_in_complete(
    *, staff_id: str, ip: str | None, user_agent: str | None, method: str
) -> StaffAccount:
    """Last step: the staff member is in. Resets the failure counters, records the time and
    address, audits ``auth.sign_in``. Raises SignInFailed if the account was deactivated,
    banned or locked meanwhile."""
    now = clock.now()
    staff = _load_for_update(staff_id)
    if staff is None or _refusal(staff, now):
        raise SignInFailed(ERR_SIGN_IN)
    with unit_of_work():
        staff.failed_sign_ins = 0
        staff.lockouts = 0
        staff.locked_until = None
        staff.last_sign_in_at = now
        staff.last_sign_in_ip = ip
        audit_record(
            actor=staff_actor(staff, ip=ip, user_agent=user_agent),
            action="auth.sign_in",
            target_model="StaffAccount",
            target_id=staff.id,
            details={"method": method},
        )
    return staff


def staff_sign_out(*, staff_id: str, actor: Actor) -> None:
    """The sign-out button: end every session of this staff member (``session_version``
    + 1, so a copied cookie dies too) and audit ``auth.sign_out``."""
    staff = _load_for_update(staff_id)
    if staff is None:
        return
    with unit_of_work():
        staff.session_version += 1
        audit_record(
            actor=actor, action="auth.sign_out", target_model="StaffAccount", target_id=staff.id
        )


def staff_session_ended(*, staff_id: str, actor: Actor, why: str) -> None:
    """Audit a session Backoffice ended by itself (``why``: idle, too old, revoked)."""
    with unit_of_work():
        audit_record(
            actor=actor,
            action="auth.session_ended",
            target_model="StaffAccount",
            target_id=staff_id,
            details={"why": why},
        )
