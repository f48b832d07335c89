"""Users (the seed application's customers): list, details and, for the roles the matrix
allows, a change of name or email. Issue 4 adds the customer tools on top of this."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from dashboard.admin.base import SecureModelView
from dashboard.extensions import db
from dashboard.models import User

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ERR_EMAIL_TAKEN = "Another user already has the email {email}."


class UserView(SecureModelView):
    permission_model = "User"
    allow_edit = True
    allow_export = True

    column_list = ("email", "name", "role", "created_at")
    column_details_list = (
        "id",
        "email",
        "name",
        "role",
        "membership_status",
        "tokens",
        "created_at",
        "updated_at",
    )
    column_export_list = ("id", "email", "name", "role", "created_at")
    column_searchable_list = ("email", "name")
    column_filters = ("role", "created_at")
    column_default_sort = ("created_at", True)
    column_labels = {"created_at": "Created", "updated_at": "Updated"}
    form_columns = ("name", "email")
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

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
        model.email = model.email.strip()
        taken = db.session.scalar(
            sa.select(User.id).where(
                sa.func.lower(User.email) == model.email.lower(), User.id != model.id
            )
        )
        if taken:
            raise ValidationError(ERR_EMAIL_TAKEN.format(email=model.email))
