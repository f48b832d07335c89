"""Foreign-key pickers (``form_ajax_refs``) for big tables.

Flask-Admin's stock loader runs ``CAST(col AS VARCHAR) ILIKE '%term%'`` (a sequential scan
of a million users per keystroke) and takes its page size from the request. This one
matches an exact id or an e-mail / name prefix, served by the lower(...) indexes, and
returns at most ``MAX_RESULTS`` rows. Who may use it is decided by SecureModelView (the
referring view's create/edit permission AND view permission on the target model).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader

from dashboard.admin.listing import text_match
from dashboard.extensions import db
from dashboard.models import User

MAX_RESULTS = 20
MAX_TERM_LENGTH = 200


class UserLookup(QueryAjaxModelLoader):
    """Pick a user by exact id, or by the start of their e-mail or name."""

    def __init__(self, name: str) -> None:
        super().__init__(name, db.session, User, fields=("email", "name"))

    def format(self, model: Any) -> tuple[Any, str] | None:
        if model is None:
            return None
        label = f"{model.email} ({model.name})" if model.name else model.email
        return model.id, label

    def get_list(self, term: str | None, offset: int = 0, limit: int = MAX_RESULTS) -> Any:
        term = (term or "").strip()
        if not term or "\x00" in term or len(term) > MAX_TERM_LENGTH:
            return []
        condition = sa.or_(
            User.id == term,
            text_match(User.email, term, "prefix"),
            text_match(User.name, term, "prefix"),
        )
        return db.session.scalars(
            sa.select(User)
            .where(condition)
            .order_by(sa.func.lower(User.email))
            .offset(max(offset or 0, 0))
            .limit(max(1, min(limit or MAX_RESULTS, MAX_RESULTS)))
        ).all()
