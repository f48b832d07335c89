"""The sign-in pages: email + password, the second factor, the forced password change and
TOTP enrolment (also reachable later from one's account page), sign-out.

Each page is a thin door: it reads the form, calls one service, and turns the result into a
redirect or the page again with the service's message.
"""

from __future__ import annotations

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup

from dashboard.auth import sessions
from dashboard.auth.current import client_ip, client_user_agent, current_actor, current_staff
from dashboard.auth.forms import (
    ChangePasswordForm,
    ConfirmForm,
    EnrollTotpForm,
    SecondFactorForm,
    SignInForm,
)
from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.models import StaffAccount, StaffRole
from dashboard.services.staff import totp
from dashboard.services.staff.credentials import (
    staff_change_password,
    staff_enroll_totp,
    staff_regenerate_recovery_codes,
)
from dashboard.services.staff.passwords import PasswordPolicy
from dashboard.services.staff.sign_in import (
    ERR_SIGN_IN,
    SignInFailed,
    SignInPolicy,
    staff_actor,
    staff_sign_in_allowed,
    staff_sign_in_complete,
    staff_sign_in_password,
    staff_sign_in_second_factor,
    staff_sign_out,
)

bp = Blueprint("auth", __name__, url_prefix="/auth")

NEW_TOTP_SECRET = "bo_new_totp_secret"
MSG_SIGNED_OUT = "You are signed out."
MSG_TOTP_REQUIRED = "Admins must use two-step sign-in. Set it up now to continue."
MSG_PASSWORD_REQUIRED = "Choose your own password to continue."
MSG_PASSWORD_CHANGED = "Your password was changed."


def totp_required(staff: StaffAccount) -> bool:
    return bool(current_app.config["REQUIRE_TOTP"]) and staff.role == StaffRole.ADMIN


def _home() -> str:
    return url_for("admin.index")


def _restart(message: str = ERR_SIGN_IN) -> ResponseReturnValue:
    sessions.end_session()
    flash(message, "danger")
    return redirect(url_for("auth.sign_in"))


def _pending_staff() -> StaffAccount | None:
    """The staff member of the sign-in in progress, if they may still sign in."""
    state = sessions.pending()
    if state is None:
        return None
    staff = staff_sign_in_allowed(state["staff_id"])
    if staff is None or staff.session_version != state["version"]:
        return None
    return staff


def _continue_sign_in() -> ResponseReturnValue:
    """Send the sign-in in progress to its next step, or finish it."""
    staff = _pending_staff()
    if staff is None:
        return _restart()
    state = sessions.pending() or {}
    if staff.totp_enrolled and not state.get("second_factor_ok"):
        return redirect(url_for("auth.second_factor"))
    if staff.password_change_required:
        flash(MSG_PASSWORD_REQUIRED, "info")
        return redirect(url_for("auth.change_password"))
    if totp_required(staff) and not staff.totp_enrolled:
        flash(MSG_TOTP_REQUIRED, "info")
        return redirect(url_for("auth.enroll_totp"))
    try:
        staff = staff_sign_in_complete(
            staff_id=staff.id,
            ip=client_ip(),
            user_agent=client_user_agent(),
            method=state.get("method", "password"),
        )
    except SignInFailed:
        return _restart()
    sessions.finish_sign_in(staff)
    return redirect(state.get("next") or _home())


@bp.route("/sign-in", methods=("GET", "POST"))
def sign_in() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(sessions.safe_next(request.args.get("next")) or _home())
    form = SignInForm()
    if form.validate_on_submit():
        try:
            staff = staff_sign_in_password(
                email=form.email.data,
                password=form.password.data,
                ip=client_ip(),
                user_agent=client_user_agent(),
                policy=SignInPolicy.from_config(current_app.config),
            )
        except SignInFailed as exc:
            return render_template("auth/sign_in.html", form=form, error=exc.message), (
                exc.status_code
            )
        sessions.start_pending(staff, request.args.get("next"))
        return _continue_sign_in()
    return render_template("auth/sign_in.html", form=form, error=None)


@bp.route("/second-factor", methods=("GET", "POST"))
def second_factor() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(_home())
    staff = _pending_staff()
    if staff is None or not staff.totp_enrolled:
        return _restart()
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            used_recovery = staff_sign_in_second_factor(
                staff_id=staff.id,
                code=form.code.data,
                ip=client_ip(),
                user_agent=client_user_agent(),
                policy=SignInPolicy.from_config(current_app.config),
            )
        except SignInFailed as exc:
            return render_template("auth/second_factor.html", form=form, error=exc.message), (
                exc.status_code
            )
        sessions.update_pending(
            second_factor_ok=True, method="recovery code" if used_recovery else "totp"
        )
        return _continue_sign_in()
    return render_template("auth/second_factor.html", form=form, error=None)


def _who() -> tuple[StaffAccount | None, Actor | None, bool]:
    """(staff, actor, signing_in) for the pages used both during and after sign-in."""
    staff = current_staff()
    if staff is not None:
        return staff, current_actor(), False
    staff = _pending_staff()
    if staff is None:
        return None, None, True
    return staff, staff_actor(staff, ip=client_ip(), user_agent=client_user_agent()), True


@bp.route("/password", methods=("GET", "POST"))
def change_password() -> ResponseReturnValue:
    staff, actor, signing_in = _who()
    if staff is None or actor is None:
        return _restart()
    form = ChangePasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            staff = staff_change_password(
                staff_id=staff.id,
                new_password=form.new_password.data,
                current_password=None if signing_in else (form.current_password.data or ""),
                actor=actor,
                policy=PasswordPolicy.from_config(current_app.config),
            )
        except BackofficeError as exc:
            error = exc.message
        else:
            if signing_in:
                sessions.update_pending(version=staff.session_version)
                return _continue_sign_in()
            sessions.refresh_signed_in(staff)
            flash(MSG_PASSWORD_CHANGED, "success")
            return redirect(url_for("auth.account"))
    return render_template(
        "auth/password.html", form=form, error=error, signing_in=signing_in, staff=staff
    )


def _qr_svg(uri: str) -> Markup:
    # segno writes plain SVG paths (no script, no inline style): safe under the CSP.
    return Markup(segno.make(uri, error="m").svg_inline(scale=4))  # noqa: S704


@bp.route("/two-step", methods=("GET", "POST"))
def enroll_totp() -> ResponseReturnValue:
    staff, actor, signing_in = _who()
    if staff is None or actor is None:
        return _restart()
    if signing_in and staff.totp_enrolled:
        return _restart()  # enrolled staff prove their existing code instead
    secret = session.get(NEW_TOTP_SECRET)
    if request.method == "GET" or not secret:
        secret = session[NEW_TOTP_SECRET] = totp.new_secret()
    form = EnrollTotpForm()
    error = None
    if form.validate_on_submit():
        if not signing_in and not _password_ok(staff, form.password.data):
            error = "Your current password is not right."
        else:
            try:
                codes = staff_enroll_totp(
                    staff_id=staff.id,
                    secret=secret,
                    code=form.code.data,
                    actor=actor,
                    policy=PasswordPolicy.from_config(current_app.config),
                )
            except BackofficeError as exc:
                error = exc.message
            else:
                session.pop(NEW_TOTP_SECRET, None)
                return _after_enrolment(staff, codes, signing_in)
    uri = totp.provisioning_uri(secret, staff.email)
    return render_template(
        "auth/enroll_totp.html",
        form=form,
        error=error,
        secret=secret,
        qr=_qr_svg(uri),
        uri=uri,
        signing_in=signing_in,
    )


def _password_ok(staff: StaffAccount, password: str | None) -> bool:
    from dashboard.services.staff.passwords import verify_password

    return verify_password(staff.password_hash, password or "")


def _after_enrolment(
    staff: StaffAccount, codes: list[str], signing_in: bool
) -> ResponseReturnValue:
    if signing_in:
        # The code just proved the new second factor: the sign-in can finish now.
        sessions.update_pending(second_factor_ok=True, method="totp enrolment")
        response = _continue_sign_in()
        if not current_user.is_authenticated:
            return response
    return render_template("auth/recovery_codes.html", codes=codes, enrolled=True)


@bp.post("/recovery-codes")
def recovery_codes() -> ResponseReturnValue:
    form = ConfirmForm()
    staff = current_staff()
    if staff is None or not form.validate_on_submit():
        return redirect(url_for("auth.account"))
    try:
        codes = staff_regenerate_recovery_codes(
            staff_id=staff.id,
            actor=current_actor(),
            policy=PasswordPolicy.from_config(current_app.config),
        )
    except BackofficeError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("auth.account"))
    return render_template("auth/recovery_codes.html", codes=codes, enrolled=False)


@bp.get("/account")
def account() -> ResponseReturnValue:
    staff = current_staff()
    return render_template(
        "auth/account.html",
        staff=staff,
        form=ConfirmForm(),
        totp_required=totp_required(staff) if staff else False,
    )


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    staff = current_staff()
    if staff is not None:
        staff_sign_out(staff_id=staff.id, actor=current_actor())
    sessions.end_session(MSG_SIGNED_OUT)
    return redirect(url_for("auth.sign_in"))
