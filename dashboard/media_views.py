"""Staff previews of stored media (generated featured images) at ``/media/<key>``.

Access: the sign-in guard (``dashboard.auth``) admits only signed-in staff to every endpoint
that is not public, this one included; every staff role may see post images.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, send_file, url_for

from dashboard.services.posts.media import (
    MediaSettings,
    StorageError,
    check_media_config,
    content_type_for,
    media_store,
)

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/<path:key>")
def preview(key: str) -> Response:
    """One stored file, for staff browsers only (kept out of shared caches)."""
    try:
        stream = media_store(MediaSettings.from_app(current_app)).open(key)
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
    key = media_store(MediaSettings.from_app(current_app)).key_for_url(image_url)
    return url_for("media.preview", key=key) if key else None


def init_app(app: Flask) -> None:
    check_media_config(app.config)
    app.register_blueprint(bp)
