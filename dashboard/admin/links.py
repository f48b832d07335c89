"""Links between admin pages, in one place so every page that shows a user, a post or a job
points at the same page for it.

Endpoint names (views register under these):
- ``customer.show`` (``/admin/customer/<user_id>``): the support page of one user;
- ``users``, ``accounts``, ``sessions``, ``verification_tokens``, ``products``, ``prices``,
  ``customers``, ``subscriptions``, ``payments``, ``blog_posts``, ``audit``, ``staff``,
  ``jobs``, ``webhook_events``: model views;
- ``generate.index`` (``/admin/generate/``), ``generate.job`` (``/admin/generate/job/<id>``):
  AI post generation;
- ``resync.index``: the Stripe resync page.
"""

from __future__ import annotations

from flask import url_for
from markupsafe import Markup, escape
from werkzeug.routing import BuildError


def user_page_url(user_id: str) -> str:
    """The page support uses for one customer (falls back to the Users details page)."""
    try:
        return url_for("customer.show", user_id=user_id)
    except BuildError:
        return url_for("users.details_view", id=user_id)


def user_link(user_id: str | None, label: str | None) -> Markup:
    """``<a>`` to the user's page, with ``label`` (escaped) as its text."""
    if not user_id:
        return Markup("")
    return Markup('<a href="{}">{}</a>').format(user_page_url(user_id), escape(label or user_id))


def model_details_url(endpoint: str, record_id: str) -> str | None:
    """The details page of a record in the model view ``endpoint``, or None if the view is
    not registered."""
    try:
        return url_for(f"{endpoint}.details_view", id=record_id)
    except BuildError:
        return None
