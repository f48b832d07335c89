"""Browser sessions of staff: starting one (with a fresh session), the half-finished sign-in
between steps, and the guard that runs before every request.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in production, gone
when the browser closes). Besides Flask-Login's keys it holds when the sign-in happened and
when the staff member was last seen; the guard ends the session when either is too old
(``SESSION_MAX_HOURS``, ``SESSION_IDLE_MINUTES``) or when the loader refuses the staff
member (deactivated, BANNED user, ``session_version`` moved on).

Access by default: every endpoint needs a signed-in staff member except those in
``PUBLIC_ENDPOINTS``; ``SIGN_IN_STEP_ENDPOINTS`` also admit a half-finished sign-in. Views then
check the role (dashboard.admin.base).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from dashboard.auth.current import (
    SignedInStaff,
    client_ip,
    client_user_agent,
    staff_id_from_session_id,
)
from dashboard.core import clock
from dashboard.core.actor import Actor
from dashboard.models import StaffAccount
from dashboard.services.staff.sign_in import staff_session_ended

# Endpoints anyone may call. The Stripe webhook (authenticated by its signature) joins them.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.sign_in", "static", "admin.static", "health.healthz", "stripe_webhooks.receive"}
)
# Steps of a sign-in in progress (and, once signed in, the same pages for one's own account).
SIGN_IN_STEP_ENDPOINTS = frozenset(
    {"auth.second_factor", "auth.change_password", "auth.enroll_totp"}
)

SIGNED_IN_AT = "bo_signed_in_at"
SEEN_AT = "bo_seen_at"
PENDING = "bo_pending"
# "Last seen" is rewritten at most once a minute, not on every request.
SEEN_RESOLUTION_SECONDS = 60
# A half-finished sign-in (password given, second factor not yet) lasts ten minutes.
PENDING_MAX_SECONDS = 600

MSG_IDLE = "You were signed out after {minutes} minutes without activity. Please sign in again."
MSG_TOO_OLD = "Your session reached its {hours}-hour limit. Please sign in again."
MSG_REVOKED = "Your session has ended. Please sign in again."
MSG_SIGN_IN_FIRST = "Please sign in to continue."


def _now() -> int:
    return clock.epoch(clock.now())


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, host or protocol-relative URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def sign_in_url(next_url: str | None = None) -> str:
    return url_for("auth.sign_in", next=safe_next(next_url))


def _here() -> str | None:
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?")


# -- the half-finished sign-in ---------------------------------------------------------------


def start_pending(staff: StaffAccount, next_url: str | None) -> None:
    """Password accepted: forget everything in the session (a fresh session, so nothing
    from before the sign-in carries over) and remember who is signing in."""
    session.clear()
    session[PENDING] = {
        "staff_id": staff.id,
        "version": staff.session_version,
        "at": _now(),
        "second_factor_ok": False,
        "method": "password",
        "next": safe_next(next_url),
    }


def pending() -> dict[str, Any] | None:
    """The sign-in in progress, or None (none, or older than ten minutes)."""
    state = session.get(PENDING)
    if not isinstance(state, dict) or _now() - int(state.get("at", 0)) > PENDING_MAX_SECONDS:
        return None
    return state


def update_pending(**changes: Any) -> None:
    state = dict(session.get(PENDING) or {})
    state.update(changes)
    session[PENDING] = state


def finish_sign_in(staff: StaffAccount) -> None:
    """Every step passed: start the staff session in a fresh cookie."""
    session.clear()
    login_user(SignedInStaff(staff), remember=False)
    now = _now()
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def refresh_signed_in(staff: StaffAccount) -> None:
    """Keep the current session after one's own change bumped ``session_version``."""
    signed_in_at = session.get(SIGNED_IN_AT, _now())
    login_user(SignedInStaff(staff), remember=False)
    session[SIGNED_IN_AT] = signed_in_at
    session[SEEN_AT] = _now()


def end_session(message: str | None = None) -> None:
    logout_user()
    session.clear()
    if message:
        flash(message, "info")


# -- the guard ---------------------------------------------------------------------------------


def _why_over() -> str | None:
    if not current_user.is_authenticated:
        return "revoked"
    now = _now()
    config = current_app.config
    if now - int(session.get(SIGNED_IN_AT, 0)) > config["SESSION_MAX_HOURS"] * 3600:
        return "too old"
    if now - int(session.get(SEEN_AT, 0)) > config["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    if now - int(session.get(SEEN_AT, 0)) >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = now
    return None


def _end_stale_session() -> None:
    if "_user_id" not in session:
        return
    why = _why_over()
    if why is None:
        return
    staff_id = staff_id_from_session_id(str(session["_user_id"]))
    config = current_app.config
    message = {
        "idle": MSG_IDLE.format(minutes=config["SESSION_IDLE_MINUTES"]),
        "too old": MSG_TOO_OLD.format(hours=config["SESSION_MAX_HOURS"]),
    }.get(why, MSG_REVOKED)
    end_session(message)
    actor = Actor(label="session-guard", ip=client_ip(), user_agent=client_user_agent())
    staff_session_ended(staff_id=staff_id, actor=actor, why=why)


def guard() -> ResponseReturnValue | None:
    """Before every request: end a session that is over, then let through public
    endpoints, sign-in steps in progress and signed-in staff; send anyone else to sign-in."""
    # What a previous request cached on ``g`` (the user, the CSRF token, the CSP nonce) must
    # not carry over. Each request has its own ``g`` in production; tests that run requests
    # inside one app context share it.
    for key in ("_login_user", "csrf_token", "csp_nonce"):
        g.pop(key, None)
    endpoint = request.endpoint
    if endpoint is None or endpoint in ("static", "admin.static"):
        return None  # 404/405 as Flask decides; static assets are public
    _end_stale_session()
    if endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if endpoint in SIGN_IN_STEP_ENDPOINTS and pending() is not None:
        return None
    if "_flashes" not in session or not session["_flashes"]:
        flash(MSG_SIGN_IN_FIRST, "info")
    return redirect(sign_in_url(_here()))
