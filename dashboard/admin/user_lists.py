"""Links from a customer's page to a model list filtered to that customer ("all payments of
this user"), built from the list view's own filters, so that nothing here guesses another
view's URL format.

A link exists only when the view is registered, the signed-in staff member may open it,
and it has an "equals" filter on the user: the model's user id column, ``User.id`` or
``User.email`` (through a join). Otherwise there is no link (None), never a broken one.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask_admin.contrib.sqla.filters import FilterEqual
from werkzeug.routing import BuildError

from dashboard.models import User

USER_ID_COLUMNS = frozenset({"userId", "user_id"})


def _registered_view(endpoint: str) -> Any | None:
    for admin in current_app.extensions.get("admin", []):
        for view in admin._views:  # noqa: SLF001 - Flask-Admin keeps no public list
            if view.endpoint == endpoint:
                return view
    return None


def _names(column: Any) -> tuple[str | None, set[str]]:
    """(table name, {column name, attribute key}) of a filter's column."""
    expression = getattr(column, "expression", column)
    table = getattr(getattr(expression, "table", None), "name", None)
    names = {getattr(expression, "name", None), getattr(column, "key", None)}
    return table, {name for name in names if name}


def _user_filter_value(view: Any, column: Any, user_id: str, email: str) -> str | None:
    table, names = _names(column)
    model_table = getattr(getattr(view, "model", None), "__tablename__", None)
    if table == model_table and names & USER_ID_COLUMNS:
        return user_id
    if table == User.__tablename__ and "id" in names:
        return user_id
    if table == User.__tablename__ and "email" in names:
        return email
    return None


def user_list_url(endpoint: str, *, user_id: str, email: str) -> str | None:
    """The list of model view ``endpoint`` filtered to this user, or None (see above)."""
    view = _registered_view(endpoint)
    if view is None or not view.is_accessible():
        return None
    for index, found in enumerate(getattr(view, "_filters", None) or ()):
        if not isinstance(found, FilterEqual):
            continue
        value = _user_filter_value(view, found.column, user_id, email)
        if value is None:
            continue
        try:
            return url_for(
                f"{endpoint}.index_view", **{f"flt0_{view.get_filter_arg(index, found)}": value}
            )
        except BuildError:
            return None
    return None
