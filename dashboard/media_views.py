"""Staff previews of stored media (generated featured images) at ``/media/<key>``.

Access: a ``before_request`` hook on the blueprint asks ``dashboard.auth.require_staff()``,
imported when a request comes (the sign-in system provides it). It returns None to let a
signed-in staff member through, or a response (a redirect to sign-in) / raises (403) to
stop everyone else. Until that function exists every request is refused with 403, except
under TESTING, where the route is open so its own tests can run.
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask, Response, abort, current_app, send_file, url_for

from dashboard.services.media import StorageError, check_media_config, content_type_for, media_store

bp = Blueprint("media", __name__, url_prefix="/media")


def _require_staff_function():  # noqa: ANN202 - whatever dashboard.auth provides
    try:
        auth = importlib.import_module("dashboard.auth")
    except ModuleNotFoundError as exc:
        if exc.name != "dashboard.auth":
            raise  # dashboard.auth exists but is broken: fail loudly, never open the route
        return None
    return getattr(auth, "require_staff", None)


@bp.before_request
def staff_only() -> Response | None:
    require_staff = _require_staff_function()
    if require_staff is None:
        if current_app.testing:
            return None
        abort(403)
    return require_staff()


@bp.get("/<path:key>")
def preview(key: str) -> Response:
    """One stored file, for staff browsers only (kept out of shared caches)."""
    try:
        stream = media_store().open(key)
    except (StorageError, FileNotFoundError, IsADirectoryError, NotADirectoryError):
        abort(404)
    response = send_file(stream, mimetype=content_type_for(key), max_age=300)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def media_preview_url(image_url: str | None) -> str | None:
    """Backoffice's preview URL for a stored image's public URL (``BlogPost.imageUrl``), or
    None for an image stored elsewhere (never loaded: admin pages allow img-src 'self')."""
    key = media_store().key_for_url(image_url)
    return url_for("media.preview", key=key) if key else None


def init_app(app: Flask) -> None:
    check_media_config(app.config)
    app.register_blueprint(bp)
