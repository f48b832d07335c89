"""Job kinds of blog posts: each re-reads its job row and calls one service."""

from __future__ import annotations

from typing import Any

from flask import current_app

from dashboard.jobs import job_handler
from dashboard.services.posts.ai import AiSettings
from dashboard.services.posts.generation import (
    JOB_KIND,
    post_generation_refund_in_job_fail,
    post_generation_run,
)
from dashboard.services.posts.media import MediaSettings, media_store


@job_handler(JOB_KIND, on_failure=post_generation_refund_in_job_fail)
def post_generation_job(job_id: str) -> dict[str, Any] | None:
    """Generate the post of a ``post_generation`` job with the app's OpenAI and media
    settings; a failure refunds the charge (the on_failure hook)."""
    return post_generation_run(
        job_id,
        ai=AiSettings.from_config(current_app.config),
        store=media_store(MediaSettings.from_app(current_app)),
    )
