"""Walking ``app.url_map``: every route with real arguments, and the admin view behind it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

# Endpoints anyone may call. The Stripe webhook (/webhooks/stripe, authenticated by its
# signature) joins this list when it is added.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.sign_in", "static", "admin.static", "health.healthz", "stripe_webhooks.receive"}
)
# Values for URL arguments; a new argument name fails the walk until it is given one here.
URL_ARGUMENTS = {
    "export_type": "csv",
    "filename": "admin/js/helpers.js",
    "key": "2026/01/missing-0123456789abcdef.png",
    "job_id": "missing-job-0123456789",
    "user_id": "no-such-user",
    "payment_id": "no-such-payment",
    "subscription_id": "no-such-subscription",
}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    path: str  # with URL arguments filled in, without the query string

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.endpoint})"


def routes(app: Flask, *, include_public: bool = False) -> Iterator[Route]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in PUBLIC_ENDPOINTS and not include_public:
            continue
        path = _build(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield Route(rule.endpoint, method, path)


def _build(rule: Rule) -> str:
    missing = [name for name in rule.arguments if name not in URL_ARGUMENTS]
    assert not missing, f"{rule.rule}: give {missing} a value in URL_ARGUMENTS"
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", URL_ARGUMENTS[name])
        path = path.replace(f"<path:{name}>", URL_ARGUMENTS[name])
    return path


def admin_view(app: Flask, endpoint: str) -> tuple[Any, str] | None:
    """(view, method name) of a Flask-Admin endpoint, or None for other endpoints."""
    blueprint, _, name = endpoint.partition(".")
    for admin in app.extensions.get("admin", []):
        for view in admin._views:  # noqa: SLF001
            if view.endpoint == blueprint and name != "static":
                return view, name
    return None
