"""Generating a blog post with AI, charged exactly once. What a character is and what a
post costs is ``dashboard.services.posts.text``.

Generation:
1. ``post_generation_start``, one transaction: the submission's idempotency key is looked up
   (a known key returns its job and charges nothing), the job is created, the cost deducted
   (GENERATION_CHARGE, reference = job id) by the ledger's guarded update, and all of it
   audited. A concurrent twin of the same submission loses on bo_job's unique key and gets
   the winner's job; a concurrent generation the balance cannot also cover is refused.
2. ``post_generation_run``, the job: no transaction is open while OpenAI works; progress
   goes queued → writing → drawing → saved; the post is saved as an unpublished draft in the
   same transaction that marks the job succeeded.
3. Any failure (rate limit after retries, timeout, HTTP error, refusal, invalid output,
   image or storage error, a crash): ``dashboard.jobs.job_fail`` marks the job failed with a
   readable reason and refunds (GENERATION_REFUND, reference = job id) in one transaction,
   only if the job was still queued or running, so exactly once. ``posts_sweep_stuck`` does
   the same for jobs with no sign of life (a worker that died).

An image failure fails the whole job and refunds everything (a stored image is deleted): the
customer paid for a post with its featured image, and Retry, or a new generation with the
image turned off, is one click away for the editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.jobs import job_create
from dashboard.models import (
    Job,
    JobStatus,
    LedgerKind,
    User,
)
from dashboard.permissions import Tool, can
from dashboard.services.audit import audit_record
from dashboard.services.posts.ai import (
    ERR_NOT_CONFIGURED,
    AiSettings,
    GenerationNotConfigured,
    GenerationOptions,
)
from dashboard.services.posts.text import (
    CHARACTERS_PER_TOKEN,
    ERR_EMPTY,
    post_character_count,
    post_cost_of,
    post_text_normalise,
)
from dashboard.services.tokens.ledger import InsufficientTokens, tokens_apply_in_transaction

ERR_TOO_LONG = "The text has {characters:,} characters; at most {limit:,} can be generated at once."
ERR_KEY = "Missing or malformed submission key; reload the page and submit again."
ERR_KEY_REUSED = "This submission key belongs to another request; reload the page and submit again."
ERR_USER = "No user with id {user_id}."
ERR_BALANCE = "Generating this post costs {cost} token{s}, but {email} has {balance}."
ERR_JOB = "No post generation with id {job_id}."
ERR_NOT_RETRYABLE = "Only a failed generation can be retried; this one is {status}."
ERR_USER_GONE = "The customer's account no longer exists."
ERR_FORBIDDEN = "Your role may not generate posts."

JOB_KIND = "post_generation"
MAX_CHARACTERS = 150_000
KEY_MAX_LENGTH = 200
PROGRESS_QUEUED = "queued"
PROGRESS_WRITING = "writing"
PROGRESS_DRAWING = "drawing"
PROGRESS_SAVED = "saved"
PROGRESS_FAILED = "failed"


@dataclass(frozen=True)
class GenerationPreview:
    """What the Generate page shows before staff confirm."""

    characters: int
    cost: int  # 0 for empty text
    balance: int
    problem: str | None  # why Generate would be refused now, or None


def post_generation_preview(*, user_id: str, text: str, ai: AiSettings) -> GenerationPreview:
    """Characters, cost and balance for ``text`` (the numbers the charge will use), and the
    reason Generate would be refused, if any: not configured, empty or too long text, or a
    short balance. Raises NotFound for an unknown user only."""
    row = db.session.execute(
        sa.select(User.tokens, User.email).where(User.id == user_id)
    ).one_or_none()
    if row is None:
        raise NotFound(ERR_USER.format(user_id=user_id))
    balance, email = row
    characters = post_character_count(text or "")
    cost = -(-characters // CHARACTERS_PER_TOKEN)
    problem = None
    if not ai.configured:
        problem = ERR_NOT_CONFIGURED
    elif characters == 0:
        problem = ERR_EMPTY
    elif characters > MAX_CHARACTERS:
        problem = ERR_TOO_LONG.format(characters=characters, limit=MAX_CHARACTERS)
    elif balance < cost:
        problem = ERR_BALANCE.format(
            cost=cost, s="" if cost == 1 else "s", email=email, balance=balance
        )
    return GenerationPreview(characters, cost, balance, problem)


# --- starting a generation ----------------------------------------------------------------


@dataclass(frozen=True)
class GenerationStarted:
    job: Job
    created: bool  # False: this submission was seen before; nothing new was charged
    characters: int
    cost: int


def _job_key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > KEY_MAX_LENGTH:
        raise BackofficeError(ERR_KEY)
    # Namespaced: bo_job's key is shared by every job kind.
    return f"{JOB_KIND}:{key}"


def _job_by_key(key: str) -> Job | None:
    return db.session.execute(sa.select(Job).where(Job.idempotency_key == key)).scalar_one_or_none()


def _seen_before(job: Job, user_id: str) -> GenerationStarted:
    if job.kind != JOB_KIND or job.subject_user_id != user_id:
        raise Conflict(ERR_KEY_REUSED)
    params = job.params or {}
    return GenerationStarted(job, False, params.get("characters", 0), params.get("cost", 0))


def post_generation_start(
    *,
    user_id: str,
    text: str,
    options: GenerationOptions | dict[str, Any] | None,
    idempotency_key: str,
    actor: Actor,
    ai: AiSettings,
    retry_of: str | None = None,
) -> GenerationStarted:
    """Charge a user for a post generation and queue it, in one transaction.

    A known ``idempotency_key`` (one per form submission) returns the job it created and
    charges nothing, also when the twin submission runs concurrently. Raises
    GenerationNotConfigured (no OPENAI_API_KEY: checked before anything is charged),
    BackofficeError (empty or too long text, bad options or key), NotFound (user),
    InsufficientTokens (the balance does not cover the cost; nothing written), Conflict (the
    key belongs to another request), PermissionDenied (a staff role without the tool).
    """
    if actor.role is not None and not can(actor.role, Tool.GENERATE_POST):
        raise PermissionDenied(ERR_FORBIDDEN)
    if not ai.configured:
        raise GenerationNotConfigured(ERR_NOT_CONFIGURED)
    key = _job_key(idempotency_key)
    if not isinstance(options, GenerationOptions):
        options = GenerationOptions.parse(options)
    clean = post_text_normalise(text or "")
    characters = len(clean)
    cost = post_cost_of(characters)
    if characters > MAX_CHARACTERS:
        raise BackofficeError(ERR_TOO_LONG.format(characters=characters, limit=MAX_CHARACTERS))

    existing = _job_by_key(key)
    if existing is not None:
        return _seen_before(existing, user_id)
    try:
        with unit_of_work():
            # Lock the user before inserting the job: the job's foreign key takes a share lock
            # on the user row, and two generations each holding one while waiting for the
            # other's would deadlock in the charge's own lock. Locked first, they simply queue.
            user = db.session.execute(
                sa.select(User)
                .where(User.id == user_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if user is None:
                raise NotFound(ERR_USER.format(user_id=user_id))
            # The twin of this submission may have committed while we waited for the lock: its
            # charge must not make this one look unaffordable.
            twin = _job_by_key(key)
            if twin is None:
                if user.tokens < cost:  # authoritative under the lock; the charge checks too
                    raise InsufficientTokens(
                        ERR_BALANCE.format(
                            cost=cost,
                            s="" if cost == 1 else "s",
                            email=user.email,
                            balance=user.tokens,
                        )
                    )
                job = job_create(
                    kind=JOB_KIND,
                    actor=actor,
                    params={
                        "text": clean,
                        "options": options.to_dict(),
                        "characters": characters,
                        "cost": cost,
                        "retry_of": retry_of,
                    },
                    idempotency_key=key,
                    subject_user_id=user_id,
                )
                job.progress_message = PROGRESS_QUEUED
                tokens_apply_in_transaction(
                    user_id=user_id,
                    delta=-cost,
                    kind=LedgerKind.GENERATION_CHARGE,
                    reason=f"Post generation ({characters:,} characters)",
                    actor=actor,
                    reference=job.id,
                )
                audit_record(
                    actor=actor,
                    action="post.generation_start",
                    target_model="Job",
                    target_id=job.id,
                    details={
                        "user_id": user_id,
                        "characters": characters,
                        "cost": cost,
                        "retry_of": retry_of,
                        **options.to_dict(),
                    },
                )
    except IntegrityError:
        # A twin submission with the same key committed first: answer with its job.
        existing = _job_by_key(key)
        if existing is None:
            raise
        return _seen_before(existing, user_id)
    if twin is not None:
        return _seen_before(twin, user_id)
    return GenerationStarted(job, True, characters, cost)


def post_generation_get(job_id: str) -> Job:
    """The generation job ``job_id`` (for its page: status, progress_message, error, result).
    Raises NotFound for an unknown id or a job of another kind."""
    job = db.session.get(Job, job_id)
    if job is None or job.kind != JOB_KIND:
        raise NotFound(ERR_JOB.format(job_id=job_id))
    return job


def post_generation_retry(
    *, job_id: str, actor: Actor, idempotency_key: str, ai: AiSettings
) -> GenerationStarted:
    """Start a new generation (a new job, a new charge) from a failed one's text and options.
    Raises NotFound, Conflict (the job did not fail) and whatever post_generation_start
    raises."""
    job = post_generation_get(job_id)
    if job.status is not JobStatus.FAILED:
        raise Conflict(ERR_NOT_RETRYABLE.format(status=job.status.value))
    if job.subject_user_id is None:
        raise NotFound(ERR_USER_GONE)
    params = job.params or {}
    return post_generation_start(
        user_id=job.subject_user_id,
        text=params.get("text", ""),
        options=params.get("options"),
        idempotency_key=idempotency_key,
        actor=actor,
        ai=ai,
        retry_of=job_id,
    )
