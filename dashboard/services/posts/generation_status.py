"""What the Generate and job pages show about post generations: one job's state in words,
and the latest jobs. Read-only; starting, retrying and failing jobs is in
``dashboard.services.posts.generation``.

Progress is one of five words: queued, writing, drawing, saved, failed. The job records
them as it goes (``posts.PROGRESS_*``); a job that finished without recording one (it failed
before it started) gets the word of its status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.core.errors import NotFound
from dashboard.extensions import db
from dashboard.models import BlogPost, Job, JobStatus, LedgerKind, TokenLedgerEntry, User
from dashboard.services.posts.generation import (
    ERR_JOB,
    JOB_KIND,
    PROGRESS_DRAWING,
    PROGRESS_FAILED,
    PROGRESS_QUEUED,
    PROGRESS_SAVED,
    PROGRESS_WRITING,
    post_generation_get,
)

PROGRESS_WORDS = (
    PROGRESS_QUEUED,
    PROGRESS_WRITING,
    PROGRESS_DRAWING,
    PROGRESS_SAVED,
    PROGRESS_FAILED,
)
WORD_OF_STATUS = {
    JobStatus.QUEUED: PROGRESS_QUEUED,
    JobStatus.RUNNING: PROGRESS_WRITING,
    JobStatus.SUCCEEDED: PROGRESS_SAVED,
    JobStatus.FAILED: PROGRESS_FAILED,
}
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
RECENT_LIMIT = 20
MAX_ID_LENGTH = 200


def progress_word(status: JobStatus, message: str | None) -> str:
    """The progress word for a job in ``status`` whose last progress message is
    ``message``; a finished job always says saved or failed."""
    if status in FINISHED:
        return WORD_OF_STATUS[status]
    return message if message in PROGRESS_WORDS else WORD_OF_STATUS[status]


@dataclass(frozen=True)
class GenerationState:
    """One generation job, as its page and its status endpoint show it."""

    job_id: str
    status: JobStatus
    word: str
    progress: int
    finished: bool
    error: str | None
    user_id: str | None  # None: the customer's account was deleted since
    user_email: str | None
    characters: int
    cost: int
    refunded: int  # tokens given back by the failure (0 if none)
    post_id: str | None
    post: BlogPost | None  # None until saved, or if the draft was deleted since
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    retry_of: str | None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        return self.status is JobStatus.FAILED and self.user_id is not None


def _refunded(job_id: str) -> int:
    delta = db.session.execute(
        sa.select(TokenLedgerEntry.delta).where(
            TokenLedgerEntry.kind == LedgerKind.GENERATION_REFUND,
            TokenLedgerEntry.reference == job_id,
        )
    ).scalar_one_or_none()
    return delta or 0


def post_generation_state(job_id: str) -> GenerationState:
    """The state of generation job ``job_id``: progress word, figures, the failure's reason
    and refund, the saved draft. Raises NotFound (unknown id, or not a generation job)."""
    # A NUL cannot be sent to PostgreSQL at all; an id that long is no id.
    if "\x00" in job_id or len(job_id) > MAX_ID_LENGTH:
        raise NotFound(ERR_JOB.format(job_id=job_id[:40].replace("\x00", "")))
    job = post_generation_get(job_id)
    params = job.params or {}
    user_email = None
    if job.subject_user_id is not None:
        user_email = db.session.execute(
            sa.select(User.email).where(User.id == job.subject_user_id)
        ).scalar_one_or_none()
    post_id = (job.result or {}).get("post_id") if job.status is JobStatus.SUCCEEDED else None
    return GenerationState(
        job_id=job.id,
        status=job.status,
        word=progress_word(job.status, job.progress_message),
        progress=job.progress,
        finished=job.status in FINISHED,
        error=job.error if job.status is JobStatus.FAILED else None,
        user_id=job.subject_user_id,
        user_email=user_email,
        characters=int(params.get("characters") or 0),
        cost=int(params.get("cost") or 0),
        refunded=_refunded(job.id) if job.status is JobStatus.FAILED else 0,
        post_id=post_id,
        post=db.session.get(BlogPost, post_id) if post_id else None,
        requested_by=job.requested_by_label,
        created_at=job.created_at,
        finished_at=job.finished_at,
        retry_of=params.get("retry_of"),
        options=dict(params.get("options") or {}),
    )


@dataclass(frozen=True)
class GenerationRow:
    """One line of the latest generations."""

    job_id: str
    user_id: str | None
    user_email: str | None
    word: str
    cost: int
    created_at: datetime


def post_generations_recent(*, limit: int = RECENT_LIMIT) -> list[GenerationRow]:
    """The latest ``limit`` generation jobs, newest first, without their texts."""
    rows = db.session.execute(
        sa.select(
            Job.id,
            Job.subject_user_id,
            User.email,
            Job.status,
            Job.progress_message,
            # Only the figure: params also hold the customer's whole text.
            Job.params["cost"].as_integer(),
            Job.created_at,
        )
        .outerjoin(User, User.id == Job.subject_user_id)
        .where(Job.kind == JOB_KIND)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    ).all()
    return [
        GenerationRow(
            job_id=job_id,
            user_id=user_id,
            user_email=email,
            word=progress_word(status, message),
            cost=cost or 0,
            created_at=created_at,
        )
        for job_id, user_id, email, status, message, cost, created_at in rows
    ]
