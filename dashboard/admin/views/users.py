"""Users (the seed application's customers): a list that stays fast on millions of rows,
details linking to everything the user owns, and an edit form that cannot damage data.

Protected columns, enforced on the server (they are not in the form, so a crafted POST
cannot set them): ``tokens`` and ``tokensExpiresAt`` change only through the token tools,
``createdAt`` and ids never; ``role`` only through Ban/Unban or, in an administrator's form,
with a reason (``services.user_roles``), written into the audit row. Bulk actions are in
``users_bulk``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from markupsafe import Markup
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import date_filters, enum_filter, flatten, id_filter
from dashboard.admin.links import user_link
from dashboard.admin.listing import SearchColumn
from dashboard.admin.related import related_links
from dashboard.admin.views.users_bulk import UserBulkActions
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import MembershipStatus, User, UserRole
from dashboard.services.user_roles import EDITABLE_ROLES, user_role_change_check

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ERR_EMAIL_TAKEN = "Another user already has the email {email}."


class ReasonField(StringField):
    """A field the view reads; it is never written to the model."""

    def populate_obj(self, obj: Any, name: str) -> None:
        return None


def _email(view: Any, context: Any, model: User, name: str) -> Markup:
    return user_link(model.id, model.email)


def _role_changed(model: User) -> tuple[bool, Any]:
    history = sa.inspect(model).attrs.role.history
    before = history.deleted[0] if history.deleted else model.role
    return history.has_changes(), before


class UserView(UserBulkActions, BigTableView):
    permission_model = "User"
    allow_edit = True
    allow_export = True

    column_list = ("email", "name", "role", "membership_status", "tokens", "created_at")
    column_details_list = (
        "id",
        "email",
        "name",
        "role",
        "membership_status",
        "stripe_product",
        "tokens",
        "tokens_expires_at",
        "email_verified",
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "id",
        "email",
        "name",
        "role",
        "membership_status",
        "tokens",
        "tokens_expires_at",
        "created_at",
    )
    column_formatters_export = {
        "role": columns.enum_value,
        "membership_status": columns.enum_value,
    }
    column_sortable_list = ("email", "created_at")
    column_filters = flatten(
        enum_filter(User.role, "Role", UserRole),
        enum_filter(User.membership_status, "Membership", MembershipStatus),
        date_filters(User.created_at, "Created"),
        date_filters(User.tokens_expires_at, "Tokens expire"),
        date_filters(User.email_verified, "Email verified"),
        date_filters(User.updated_at, "Updated"),
        id_filter(User.stripe_product_id, "Plan id"),
    )
    list_key = ("created_at", "id")
    search_columns = (
        SearchColumn("id", "exact"),
        SearchColumn("email"),
        SearchColumn("name", substring=False),
    )
    column_labels = {
        "created_at": "Created",
        "updated_at": "Updated",
        "membership_status": "Membership",
        "stripe_product": "Plan",
        "tokens_expires_at": "Tokens expire",
        "email_verified": "Email verified",
    }
    column_formatters = {
        "email": _email,
        "role": columns.enum_value,
        "membership_status": columns.enum_value,
        "stripe_product": columns.details_link("products", "name"),
    }
    form_columns = ("name", "email", "role", "role_reason")  # role_reason: form_extra_fields
    form_extra_fields = {
        "role_reason": ReasonField(
            "Reason for a role change",
            validators=[Length(max=500)],
            description="Required when you change the role; kept in the audit trail.",
        )
    }
    form_overrides = {"role": SelectField}  # a plain select; choices are set per user below
    column_editable_list = ("name",)
    form_args = {
        "email": {
            "validators": [
                DataRequired(),
                Length(max=254),
                Regexp(EMAIL_PATTERN, message="Enter a valid email address."),
            ]
        },
        "name": {"validators": [Length(max=200)]},
    }

    def edit_form(self, obj: Any = None) -> Any:
        form = super().edit_form(obj)
        if "role" in form:
            # BANNED is set and lifted by Ban / Unban only.
            if obj is not None and obj.role == UserRole.BANNED:
                form.role.choices = [(UserRole.BANNED.value, "BANNED (use Unban)")]
            else:
                form.role.choices = [(role.value, role.value) for role in EDITABLE_ROLES]
        return form

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
        model.email = model.email.strip()
        changed, before = _role_changed(model)
        if changed:
            reason = form.role_reason.data if "role_reason" in form else None
            try:
                user_role_change_check(
                    user_id=model.id,
                    role_before=before,
                    role_after=model.role,
                    reason=reason,
                    actor=current_actor(),
                )
            except BackofficeError as exc:
                form.role.errors = [*form.role.errors, exc.message]
                raise ValidationError(exc.message) from None
        taken = db.session.scalar(
            sa.select(User.id).where(
                sa.func.lower(User.email) == model.email.lower(), User.id != model.id
            )
        )
        if taken:
            raise ValidationError(ERR_EMAIL_TAKEN.format(email=model.email))

    def audit_reason(self, form: Any, model: User) -> str | None:
        if "role_reason" not in form or not _role_changed(model)[0]:
            return None
        return (form.role_reason.data or "").strip() or None

    def related_links(self, model: User) -> list[tuple[str, str]]:
        links = []
        if "customer.show" in current_app.view_functions:
            links.append(("Support page", url_for("customer.show", user_id=model.id)))
        return links + related_links(
            [
                ("Payments", "payments", "user_id", model.id),
                ("Subscriptions", "subscriptions", "user_id", model.id),
                ("Stripe customer", "customers", "user_id", model.id),
                ("Blog posts", "blog_posts", "user_id", model.id),
                ("Sessions (signed-in devices)", "sessions", "user_id", model.id),
                ("Sign-in accounts (OAuth)", "accounts", "user_id", model.id),
            ]
        )
