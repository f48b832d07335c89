"""Resync jobs: running one (``stripe_resync_run``, the ``stripe_resync`` job kind that
``create_app`` registers) and what the Resync Stripe page shows of them, as rows of a report.
Queuing a resync is ``resync.stripe_resync_request``.

A resync job's ``result`` is ``ResyncReport.to_dict()`` (per type: created / updated /
unchanged / deactivated / failed and the failures with their reasons; ``ok`` false when
anything failed), or ``{"skipped": reason}`` for a scheduled refresh that stepped aside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import Conflict, NotFound
from dashboard.extensions import db
from dashboard.jobs import job_progress
from dashboard.models import Job, JobStatus
from dashboard.services.stripe.gateway import StripeSettings
from dashboard.services.stripe.resync import RESYNC_TYPES, ResyncProgress, stripe_resync

JOB_KIND = "stripe_resync"
ERR_NOT_FOUND = "No Stripe resync job with this id."
RECENT_LIMIT = 20
MAX_ID_LENGTH = 200
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
COUNTS = ("created", "updated", "unchanged", "deactivated", "failed")
LOCK_ATTEMPTS = 30
LOCK_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class ResyncJobState:
    """One resync job as its page and its status endpoint show it."""

    job: Job
    types: list[str]
    dry_run: bool
    scheduled: bool
    report: dict[str, dict[str, Any]]  # per type, in sync order
    failures: list[dict[str, str]]  # {"type", "id", "reason"}
    skipped: str | None

    @property
    def finished(self) -> bool:
        return self.job.status in FINISHED

    @property
    def ok(self) -> bool | None:
        """None while running; False when the job failed or any object failed."""
        if not self.finished:
            return None
        result = self.job.result or {}
        return self.job.status is JobStatus.SUCCEEDED and result.get("ok", True) is not False


def stripe_resync_run(job_id: str, *, settings: StripeSettings) -> dict[str, Any]:
    """The ``stripe_resync`` job: a full (or ``only``) resync with live progress. A
    scheduled refresh that finds a resync running steps aside; a requested one waits for it
    (up to a minute), then fails with the Conflict."""
    job = db.session.get(Job, job_id)
    params = job.params or {}
    actor = Actor(label=job.requested_by_label, staff_id=job.requested_by_staff_id)

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


def _state(job: Job) -> ResyncJobState:
    params = job.params or {}
    result = job.result or {}
    by_type = result.get("types") or {}
    report, failures = {}, []
    for name in RESYNC_TYPES:
        if name in by_type:
            counts = by_type[name]
            report[name] = {count: int(counts.get(count, 0)) for count in COUNTS}
            failures += [
                {"type": name, "id": str(f.get("id", "?")), "reason": str(f.get("reason", ""))}
                for f in counts.get("failures") or ()
            ]
    return ResyncJobState(
        job=job,
        types=list(params.get("only") or RESYNC_TYPES),
        dry_run=bool(params.get("dry_run")),
        scheduled=bool(params.get("scheduled")),
        report=report,
        failures=failures,
        skipped=result.get("skipped"),
    )


def stripe_resync_job_state(job_id: str) -> ResyncJobState:
    """The resync job ``job_id`` (read afresh); NotFound if there is none of that kind."""
    job = None
    if len(job_id) <= MAX_ID_LENGTH and "\x00" not in job_id:
        job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.kind != JOB_KIND:
        raise NotFound(ERR_NOT_FOUND)
    return _state(job)


def stripe_resync_jobs_recent(limit: int = RECENT_LIMIT) -> list[ResyncJobState]:
    """The latest resync jobs, newest first (scheduled catalog refreshes included)."""
    jobs = db.session.scalars(
        sa.select(Job)
        .where(Job.kind == JOB_KIND)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    ).all()
    return [_state(job) for job in jobs]


def stripe_resync_job_active() -> Job | None:
    """The requested resync that is queued or running now, if any (the one a second
    request is told about)."""
    return db.session.scalar(
        sa.select(Job)
        .where(
            Job.kind == JOB_KIND,
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.idempotency_key.is_(None),
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    )
