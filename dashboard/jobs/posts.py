"""Job door of blog posts: builds the settings from the app and calls the service."""

from __future__ import annotations

from typing import Any

from flask import current_app

from dashboard.services.posts.ai import AiSettings
from dashboard.services.posts.generation_run import (
    post_generation_run,
)
from dashboard.services.posts.media import MediaSettings, media_store


def post_generation_job(job_id: str) -> dict[str, Any] | None:
    """Generate the post of a ``post_generation`` job with the app's OpenAI and media
    settings; a failure refunds the charge (the kind's on_failure hook)."""
    return post_generation_run(
        job_id,
        ai=AiSettings.from_config(current_app.config),
        store=media_store(MediaSettings.from_app(current_app)),
    )
