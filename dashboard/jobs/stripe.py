"""Job kinds of the Stripe sync: each re-reads its job row and calls one service."""

from __future__ import annotations

from typing import Any

from dashboard.extensions import db
from dashboard.jobs import job_handler, job_progress
from dashboard.models import Job
from dashboard.services.actor import Actor
from dashboard.services.errors import Conflict
from dashboard.services.stripe_resync import ResyncProgress, stripe_resync


@job_handler("stripe_resync")
def stripe_resync_job(job_id: str) -> dict[str, Any]:
    """A full (or ``only``) resync with live progress; a scheduled refresh that finds a
    resync running steps aside instead of failing."""
    job = db.session.get(Job, job_id)
    params = job.params or {}
    actor = Actor(label=job.requested_by_label, staff_id=job.requested_by_staff_id)

    def progress(step: ResyncProgress) -> None:
        job_progress(job_id, step.percent, f"{step.phase}: {step.seen:,} read")

    try:
        report = stripe_resync(
            actor=actor,
            only=params.get("only"),
            dry_run=bool(params.get("dry_run")),
            progress=progress,
        )
    except Conflict as exc:
        if params.get("scheduled"):
            return {"skipped": exc.message}
        raise
    return report.to_dict()
