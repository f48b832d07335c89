"""Who is signed in: the Flask-Login user, the staff account behind it, and the Actor that
services record in the audit trail.

The id Flask-Login keeps in the session is ``"<staff id>:<session_version>"``. The loader
refuses it when the version has moved on (sign-out elsewhere, password or TOTP reset), when
the staff account was deactivated, or when its user is BANNED; the session guard then ends
that browser session on the spot.
"""

from __future__ import annotations

from flask import has_request_context, request
from flask_login import UserMixin, current_user

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import StaffAccount, StaffRole, UserRole
from dashboard.services.staff.sign_in import staff_actor

MAX_USER_AGENT = 500


class SignedInStaff(UserMixin):
    """The Flask-Login user object: a thin wrapper around the staff account row."""

    def __init__(self, staff: StaffAccount) -> None:
        self.staff = staff

    @property
    def id(self) -> str:
        """The staff account's id (what logs name); ``get_id`` adds the session version."""
        return self.staff.id

    def get_id(self) -> str:
        return f"{self.staff.id}:{self.staff.session_version}"

    @property
    def is_active(self) -> bool:
        return self.staff.is_active


def staff_id_from_session_id(user_id: str) -> str:
    return user_id.partition(":")[0]


def load_signed_in_staff(user_id: str) -> SignedInStaff | None:
    """Flask-Login's user loader (see the module docstring for when it refuses)."""
    staff_id, _, version = user_id.partition(":")
    staff = db.session.get(StaffAccount, staff_id)
    if staff is None or str(staff.session_version) != version:
        return None
    if not staff.is_active or staff.user is None or staff.user.role == UserRole.BANNED:
        return None
    return SignedInStaff(staff)


def current_staff() -> StaffAccount | None:
    """The signed-in staff account, or None (anonymous, or outside a request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return current_user.staff


def current_role() -> StaffRole | None:
    staff = current_staff()
    return staff.role if staff else None


def client_ip() -> str | None:
    """The client's address (behind ``PROXY_FIX_HOPS`` trusted proxies, the forwarded one)."""
    return request.remote_addr if has_request_context() else None


def client_user_agent() -> str | None:
    if not has_request_context():
        return None
    return (request.user_agent.string or "")[:MAX_USER_AGENT] or None


def current_actor() -> Actor:
    """The Actor for the signed-in staff member, with address and browser, for services.
    Raises RuntimeError when nobody is signed in (a door forgot its access check)."""
    staff = current_staff()
    if staff is None:
        raise RuntimeError("current_actor() needs a signed-in staff member")
    return staff_actor(staff, ip=client_ip(), user_agent=client_user_agent())
