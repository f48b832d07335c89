"""Request ids, request logs and error pages.

- Every request has an id: a sane incoming ``X-Request-ID`` (from the load balancer) or a
  new one. It is sent back in the ``X-Request-ID`` header, stamped on every log record made
  while the request runs, and shown on error pages, so that a user's report finds the log.
- One log line per request: method, path (never the query string, which can hold personal
  data), status, duration and the signed-in staff member's id. ``LOG_FORMAT=json`` makes
  every log record one JSON object per line; the default is readable text.
- Error pages (400, 403, 404, 500, 503 and any other HTTP error) say what happened and give
  the request id; they never show a traceback or SQL. Unexpected exceptions are logged with
  their traceback and the request id.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    jsonify,
    request,
    url_for,
)
from flask import logging as flask_logging
from jinja2 import Environment
from werkzeug.exceptions import HTTPException

from config import ConfigError

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from uuid4, nginx's $request_id, Heroku, AWS... all fit; nothing that could break a
# log line (spaces, quotes, newlines) or flood it does.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=+/-]{7,127}$")
HANDLER_NAME = "backoffice"
REQUEST_LOGGER = logging.getLogger("dashboard.request")
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "staff_id")
QUIET_PATHS = ("/healthz",)  # polled every few seconds: logged at DEBUG when healthy

ERROR_TEXTS = {
    400: ("Bad request", "The request could not be understood. Check what you sent and retry."),
    401: ("Sign-in required", "Sign in to see this page."),
    403: ("Forbidden", "Your account is not allowed to do this."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    500: (
        "Something went wrong",
        "Backoffice hit an error it did not expect. It has been logged; if it keeps "
        "happening, tell whoever is on call and quote the request id below.",
    ),
    503: (
        "Service unavailable",
        "Backoffice cannot serve this right now. Try again in a minute; if it persists, "
        "tell whoever is on call.",
    ),
}
ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} ({{ status }}) · Backoffice</title>
{% if stylesheet %}<link rel="stylesheet" href="{{ stylesheet }}">{% endif %}
</head>
<body><main class="container my-5">
<h1 class="h4">{{ title }}</h1>
<p>{{ message }}</p>
<p class="text-muted small">Request id: <code>{{ request_id }}</code></p>
<p><a href="/admin/">Back to the dashboard</a></p>
</main></body></html>
"""


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    return g.request_id


class RequestIdFilter(logging.Filter):
    """Stamp ``request_id`` on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


def _utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the request
    fields when present, and the traceback (as one string) for errors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(utc)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.utc = _utc_time(record)
        return super().format(record)


def _install_log_handler(app: Flask) -> None:
    """Give the ``dashboard`` logger (Flask's app.logger and every module's logger) one
    handler on stderr in the configured format. Building a second app replaces it."""
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    logger = app.logger
    for handler in list(logger.handlers):
        if handler is flask_logging.default_handler or handler.name == HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.name = HANDLER_NAME
    handler.addFilter(RequestIdFilter())
    json_format = app.config.get("LOG_FORMAT") == "json"
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)


def _staff_id() -> str | None:
    """The signed-in staff member's id, when sign-in is installed and someone is signed in.
    A log line must never break the response, so any failure here means "nobody"."""
    if getattr(current_app, "login_manager", None) is None:
        return None
    try:
        from flask_login import current_user

        user = current_user._get_current_object()  # noqa: SLF001
        if not getattr(user, "is_authenticated", False):
            return None
        return str(getattr(user, "id", None) or user.get_id())
    except Exception:  # noqa: BLE001 - see docstring
        return None


def _start_request() -> None:
    g.request_started = time.perf_counter()
    current_request_id()


def _finish_request(response: Response) -> Response:
    request_id = current_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started", time.perf_counter())
    status = response.status_code
    quiet = request.path in QUIET_PATHS and status < 400
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    staff_id = _staff_id()
    REQUEST_LOGGER.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %s %sms%s",
        request.method,
        request.path,
        status,
        duration_ms,
        f" staff={staff_id}" if staff_id else "",
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": duration_ms,
            "staff_id": staff_id,
        },
    )
    return response


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > 0


_ERROR_TEMPLATE = Environment(autoescape=True).from_string(ERROR_PAGE)


def _stylesheet_url() -> str | None:
    try:
        return url_for("admin.static", filename="bootstrap/bootstrap4/css/bootstrap.min.css")
    except Exception:  # an app without the admin (some tests), or outside a request
        return None


def error_response(status: int, *, title: str | None = None, message: str | None = None) -> Any:
    """The error page (or JSON, for clients that ask for it) for ``status``, with the
    request id and nothing else about the error."""
    default_title, default_message = ERROR_TEXTS.get(
        status, ERROR_TEXTS[500] if status >= 500 else ERROR_TEXTS[400]
    )
    title, message = title or default_title, message or default_message
    request_id = current_request_id()
    if _wants_json():
        body = jsonify(error=title, message=message, status=status, request_id=request_id)
        return body, status
    # A standalone template: Flask's context processors would load the signed-in staff
    # member, which needs the database that may be the very thing that failed.
    page = _ERROR_TEMPLATE.render(
        title=title,
        message=message,
        status=status,
        request_id=request_id,
        stylesheet=_stylesheet_url(),
    )
    return page, status


def _http_error(exc: HTTPException) -> Any:
    if exc.response is not None:  # abort(some_response): already what the caller wants
        return exc.response
    if exc.code is None or exc.code < 400:
        return exc
    body, status = error_response(exc.code or 500)
    response = current_app.make_response((body, status))
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def init_app(app: Flask) -> None:
    """Install request ids, request logging and the error pages."""
    _install_log_handler(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    # By class, not by code: a blueprint's or another module's handler for a specific code
    # (a sign-in redirect for 401, say) still wins. Unhandled exceptions reach this as a
    # 500 after Flask has logged them with their traceback.
    app.register_error_handler(HTTPException, _http_error)
