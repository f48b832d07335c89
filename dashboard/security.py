"""Safe defaults for every response: CSRF on every state change, a nonce-based Content
Security Policy, and the other security headers.

- ``CSRFProtect`` checks every POST/PUT/PATCH/DELETE app-wide (forms carry
  ``csrf_token()``; only the Stripe webhook will be exempt, by its own signature).
- CSP: scripts and styles only from this site or carrying the request's nonce; no inline
  event handlers (Flask-Admin's are replaced in templates/admin, see static/js/admin.js),
  no plugins, no framing, forms post only here.
- ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy: same-origin``, HSTS when
  ``HSTS_SECONDS`` > 0 (the production default), and no caching of pages (they hold
  customer data).
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboard.observability import error_response

csrf = CSRFProtect()

MSG_CSRF = (
    "This form has expired or did not come from Backoffice. Go back, reload the page and try again."
)


def csp_nonce() -> str:
    """The nonce of the current response (the same for every tag of one page)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    hsts = int(_config("HSTS_SECONDS"))
    if hsts > 0:
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    if request.endpoint not in ("static", "admin.static"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _config(name: str) -> object:
    from flask import current_app

    return current_app.config[name]


def _csrf_failed(error: CSRFError) -> ResponseReturnValue:
    return error_response(400, title="Form expired", message=MSG_CSRF)


MSG_FORBIDDEN = "Your role does not allow this. Ask an admin if you need it."
MSG_NOT_FOUND = "There is nothing at this address."


# The shared error page (with the request id) in the words of access control.
def _forbidden(error: Exception) -> ResponseReturnValue:
    return error_response(403, message=MSG_FORBIDDEN)


def _not_found(error: Exception) -> ResponseReturnValue:
    return error_response(404, message=MSG_NOT_FOUND)


def init_app(app: Flask) -> None:
    """Trust ``PROXY_FIX_HOPS`` proxies, turn on CSRF protection and the headers."""
    hops = int(app.config.get("PROXY_FIX_HOPS", 0))
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(404, _not_found)
    app.after_request(_set_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
