"""Column formatters shared by the model views (Flask-Admin's signature: view, context,
model, name). Every user shown anywhere links to the user's page through
``dashboard.admin.links.user_link``; related rows must be loaded with the page (joinedload)
so that a column never costs a query per row."""

from __future__ import annotations

from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from dashboard.admin.links import model_details_url, user_link


def user(view: Any, context: Any, model: Any, name: str) -> Markup:
    """The row's user (``model.user``, eager-loaded) as a link to the user's page."""
    related = getattr(model, "user", None)
    return user_link(model.user_id, related.email if related is not None else model.user_id)


def yes_no(view: Any, context: Any, model: Any, name: str) -> str:
    return "yes" if getattr(model, name) else "no"


def money(view: Any, context: Any, model: Any, name: str) -> str:
    """An amount in the smallest currency unit, with its currency (``model.currency``)."""
    amount = getattr(model, name)
    if amount is None:
        return ""
    return f"{amount / 100:,.2f} {(model.currency or '').upper()}"


def details_link(endpoint: str, label_attribute: str | None = None) -> Any:
    """A formatter linking a foreign key to the related record's details page."""

    def format_link(view: Any, context: Any, model: Any, name: str) -> Markup | str:
        value = getattr(model, name)
        if value is None:
            return ""
        record_id = getattr(value, "id", value)
        label = getattr(value, label_attribute) if label_attribute else value
        url = model_details_url(endpoint, str(record_id))
        if url is None:
            return str(label)
        return Markup('<a href="{}">{}</a>').format(url, escape(str(label)))

    return format_link


def own_details_link(attribute: str) -> Any:
    """A formatter showing ``attribute`` as a link to the row's own details page."""

    def format_link(view: Any, context: Any, model: Any, name: str) -> Markup:
        url = url_for(".details_view", id=view.get_pk_value(model))
        return Markup('<a href="{}">{}</a>').format(url, escape(getattr(model, attribute) or "—"))

    return format_link


def enum_value(view: Any, context: Any, model: Any, name: str) -> str:
    value = getattr(model, name)
    return "" if value is None else str(getattr(value, "value", value))
