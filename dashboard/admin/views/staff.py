"""Staff accounts, for ADMIN only: invite, change role, deactivate/reactivate, reset
password, reset TOTP. Each is a POST (with its CSRF token) that calls one service in
dashboard.services.staff.accounts, which enforces the rules and writes the audit row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from dashboard.admin.access import requires
from dashboard.admin.base import SecureModelView
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError
from dashboard.models import StaffAccount, StaffRole
from dashboard.permissions import Op, Tool
from dashboard.services.staff import accounts as staff_service
from dashboard.services.staff.passwords import PasswordPolicy

ROLE_CHOICES = [SelectChoice(role.value, role.value.title()) for role in StaffRole]


class InviteForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name (for a new user)", validators=[Optional(), Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])


class RoleForm(FlaskForm):
    role = SelectField("New role", choices=ROLE_CHOICES, validators=[DataRequired()])
    reason = StringField("Reason", validators=[Optional(), Length(max=500)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _yes_no(view: Any, context: Any, model: StaffAccount, name: str) -> str:
    return "yes" if getattr(model, name) else "no"


def _email(view: Any, context: Any, model: StaffAccount, name: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(
        url_for("staff.details_view", id=model.id), model.email
    )


class StaffView(SecureModelView):
    permission_model = "StaffAccount"
    # No generic create/edit/delete: every change goes through the buttons below.
    column_list = ("email", "role", "is_active", "totp_enrolled", "last_sign_in_at", "locked_until")
    column_details_list = (
        "email",
        "role",
        "is_active",
        "totp_enrolled",
        "password_change_required",
        "failed_sign_ins",
        "locked_until",
        "last_sign_in_at",
        "last_sign_in_ip",
        "created_at",
        "id",
    )
    column_sortable_list = ("role", "is_active", "last_sign_in_at")
    column_filters = ("role", "is_active")
    column_labels = {
        "is_active": "Active",
        "totp_enrolled": "Two-step",
        "password_change_required": "Must change password",
    }
    column_formatters = {
        "email": _email,
        "is_active": _yes_no,
        "totp_enrolled": _yes_no,
        "password_change_required": _yes_no,
    }
    details_template = "admin/bo/staff_details.html"
    list_template = "admin/bo/staff_list.html"

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("role_form", RoleForm())
        kwargs.setdefault("confirm_form", ConfirmForm())
        kwargs.setdefault("may_manage", self.allowed("change_role"))
        return super().render(template, **kwargs)

    # -- the buttons --------------------------------------------------------------------------

    def _back(self, staff_id: str | None) -> ResponseReturnValue:
        if staff_id:
            return redirect(url_for(".details_view", id=staff_id))
        return redirect(url_for(".index_view"))

    def _run(self, change: Callable[[str], str]) -> ResponseReturnValue:
        """Validate the CSRF-only form, call ``change(staff_id)`` and flash its message."""
        staff_id = request.form.get("id", "")
        if not ConfirmForm().validate_on_submit() or not staff_id:
            flash("The form was incomplete; nothing was changed.", "danger")
            return self._back(staff_id or None)
        try:
            flash(change(staff_id), "success")
        except BackofficeError as exc:
            flash(exc.message, "danger")
        return self._back(staff_id)

    @expose("/invite/", methods=("GET", "POST"))
    @requires(Op.CREATE, tool=Tool.MANAGE_STAFF)
    def invite(self) -> ResponseReturnValue:
        form = InviteForm()
        if form.validate_on_submit():
            try:
                created = staff_service.staff_create(
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    actor=current_actor(),
                    policy=PasswordPolicy.from_config(current_app.config),
                )
            except BackofficeError as exc:
                flash(exc.message, "danger")
            else:
                return self.render(
                    "admin/bo/staff_password.html",
                    staff=created.staff,
                    password=created.temporary_password,
                    invited=True,
                )
        return self.render("admin/bo/staff_invite.html", form=form)

    @expose("/change-role/", methods=("POST",))
    @requires(Op.EDIT, tool=Tool.MANAGE_STAFF)
    def change_role(self) -> ResponseReturnValue:
        form = RoleForm()
        staff_id = request.form.get("id", "")
        if not form.validate_on_submit() or not staff_id:
            flash("Choose a role; nothing was changed.", "danger")
            return self._back(staff_id or None)
        try:
            staff = staff_service.staff_change_role(
                staff_id=staff_id,
                role=form.role.data,
                reason=form.reason.data,
                actor=current_actor(),
            )
        except BackofficeError as exc:
            flash(exc.message, "danger")
        else:
            flash(f"{staff.email} is now {staff.role.value}.", "success")
        return self._back(staff_id)

    @expose("/deactivate/", methods=("POST",))
    @requires(Op.EDIT, tool=Tool.MANAGE_STAFF)
    def deactivate(self) -> ResponseReturnValue:
        def change(staff_id: str) -> str:
            staff = staff_service.staff_deactivate(staff_id=staff_id, actor=current_actor())
            return f"{staff.email} can no longer sign in; their sessions have ended."

        return self._run(change)

    @expose("/reactivate/", methods=("POST",))
    @requires(Op.EDIT, tool=Tool.MANAGE_STAFF)
    def reactivate(self) -> ResponseReturnValue:
        def change(staff_id: str) -> str:
            staff = staff_service.staff_reactivate(staff_id=staff_id, actor=current_actor())
            return f"{staff.email} can sign in again."

        return self._run(change)

    @expose("/reset-totp/", methods=("POST",))
    @requires(Op.EDIT, tool=Tool.MANAGE_STAFF)
    def reset_totp(self) -> ResponseReturnValue:
        def change(staff_id: str) -> str:
            staff = staff_service.staff_reset_totp(staff_id=staff_id, actor=current_actor())
            return f"Two-step sign-in of {staff.email} was removed; they set it up again."

        return self._run(change)

    @expose("/reset-password/", methods=("POST",))
    @requires(Op.EDIT, tool=Tool.MANAGE_STAFF)
    def reset_password(self) -> ResponseReturnValue:
        staff_id = request.form.get("id", "")
        if not ConfirmForm().validate_on_submit() or not staff_id:
            flash("The form was incomplete; nothing was changed.", "danger")
            return self._back(staff_id or None)
        try:
            reset = staff_service.staff_reset_password(
                staff_id=staff_id,
                actor=current_actor(),
                policy=PasswordPolicy.from_config(current_app.config),
            )
        except BackofficeError as exc:
            flash(exc.message, "danger")
            return self._back(staff_id)
        # Shown in this response only: never flashed (the session cookie is not encrypted).
        return self.render(
            "admin/bo/staff_password.html",
            staff=reset.staff,
            password=reset.temporary_password,
            invited=False,
        )
