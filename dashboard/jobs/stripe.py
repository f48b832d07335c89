"""Job kinds of the Stripe sync: each re-reads its job row and calls one service."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app

from dashboard.core.actor import Actor
from dashboard.core.errors import Conflict
from dashboard.extensions import db
from dashboard.jobs import job_handler, job_progress
from dashboard.models import Job
from dashboard.services.stripe.gateway import StripeSettings
from dashboard.services.stripe.resync import ResyncProgress, stripe_resync

LOCK_ATTEMPTS = 30
LOCK_WAIT_SECONDS = 2.0


@job_handler("stripe_resync")
def stripe_resync_job(job_id: str) -> dict[str, Any]:
    """A full (or ``only``) resync with live progress. A scheduled refresh that finds a
    resync running steps aside; a requested one waits for it (up to a minute)."""
    job = db.session.get(Job, job_id)
    params = job.params or {}
    actor = Actor(label=job.requested_by_label, staff_id=job.requested_by_staff_id)
    settings = StripeSettings.from_config(current_app.config)

    def progress(step: ResyncProgress) -> None:
        job_progress(job_id, step.percent, f"{step.phase}: {step.seen:,} read")

    attempts = 0
    while True:
        try:
            report = stripe_resync(
                actor=actor,
                settings=settings,
                only=params.get("only"),
                dry_run=bool(params.get("dry_run")),
                progress=progress,
            )
            return report.to_dict()
        except Conflict as exc:
            attempts += 1
            if params.get("scheduled"):
                return {"skipped": exc.message}
            if attempts >= LOCK_ATTEMPTS:
                raise
            # Most likely the scheduled product/price refresh: it takes seconds.
            job_progress(job_id, 0, "waiting for the running resync to finish")
            time.sleep(LOCK_WAIT_SECONDS)
