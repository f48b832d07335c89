"""The post_generation job: write the draft, draw its image and save both as an unpublished
post; a failure refunds the charge exactly once (``post_generation_refund_in_job_fail``, the
kind's on_failure hook, and ``posts_sweep_stuck`` for jobs with no sign of life). Starting
and retrying a generation, and the rules of the charge, are ``generation``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.jobs import UNFINISHED, job_fail, job_progress, job_succeed
from dashboard.models import (
    BlogPost,
    Job,
    LedgerKind,
    TokenLedgerEntry,
    cuid,
    utcnow,
)
from dashboard.services.audit import audit_record
from dashboard.services.posts.ai import (
    AiSettings,
    GenerationFailed,
    GenerationOptions,
    ai_draw_image,
    ai_write_post,
)
from dashboard.services.posts.drafts import CleanDraft, draft_clean
from dashboard.services.posts.generation import (
    ERR_USER_GONE,
    JOB_KIND,
    PROGRESS_DRAWING,
    PROGRESS_FAILED,
    PROGRESS_SAVED,
    PROGRESS_WRITING,
)
from dashboard.services.posts.media import MediaStore
from dashboard.services.posts.text import (
    post_slugify,
    post_unique_slug,
)
from dashboard.services.tokens.ledger import tokens_apply_in_transaction

ERR_SWEEP_AGE = "The age of a stuck job must be more than zero."
SLUG_ATTEMPTS = 3
JOB_ACTOR = Actor.system(f"job:{JOB_KIND}")
SWEEP_ACTOR = Actor.system("posts-sweep")
ERR_STUCK = (
    "No progress for more than {minutes} minutes (the worker stopped or was restarted); "
    "the tokens were refunded."
)


# --- the job --------------------------------------------------------------------------------


def post_generation_refund_in_job_fail(job_id: str, error: str, actor: Actor) -> None:
    """dashboard.jobs' on_failure hook of JOB_KIND: runs inside job_fail's transaction (it
    never commits), once per job."""
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(progress_message=PROGRESS_FAILED)
        .execution_options(synchronize_session=False)
    )
    charge = db.session.execute(
        sa.select(TokenLedgerEntry).where(
            TokenLedgerEntry.kind == LedgerKind.GENERATION_CHARGE,
            TokenLedgerEntry.reference == job_id,
        )
    ).scalar_one_or_none()
    refunded = 0
    # No charge row: nothing was taken, or the user (and their ledger) was deleted.
    if charge is not None:
        refunded = -charge.delta
        tokens_apply_in_transaction(
            user_id=charge.user_id,
            delta=refunded,
            kind=LedgerKind.GENERATION_REFUND,
            reason=f"Refund, generation failed: {error}"[:500],
            actor=actor,
            reference=job_id,
        )
    audit_record(
        actor=actor,
        action="post.generation_failed",
        target_model="Job",
        target_id=job_id,
        reason=error,
        details={"refunded_tokens": refunded},
    )


def _save_post(
    job_id: str, *, user_id: str, params: dict[str, Any], draft: CleanDraft, image_url: str | None
) -> str | None:
    """Save the draft and mark the job succeeded in one transaction; None (nothing saved)
    if the job was failed meanwhile by the sweep."""
    text = params["text"]
    post_id = cuid()
    slug_base = draft.slug_hint or draft.title
    for attempt in range(SLUG_ATTEMPTS):
        try:
            with unit_of_work():
                if not job_succeed(job_id, result={"post_id": post_id}, message=PROGRESS_SAVED):
                    return None  # nothing is written: the sweep failed the job meanwhile
                slug = post_unique_slug(slug_base)
                db.session.add(
                    BlogPost(
                        id=post_id,
                        user_id=user_id,
                        title=draft.title,
                        content=draft.body,
                        original_text=text,
                        character_count=len(text),
                        tokens_used=params["cost"],
                        slug=slug,
                        image_url=image_url,
                        image_prompt=draft.image_prompt if image_url else None,
                        image_alt=draft.image_alt if image_url else None,
                        meta_description=draft.meta_description,
                        keywords=draft.keywords,
                        is_published=False,
                    )
                )
                audit_record(
                    actor=JOB_ACTOR,
                    action="post.generation_saved",
                    target_model="BlogPost",
                    target_id=post_id,
                    details={"job_id": job_id, "slug": slug, "tokens": params["cost"]},
                )
            return post_id
        except IntegrityError as exc:
            # Another post took the slug between our check and our insert: pick again.
            if "slug" not in str(exc.orig) or attempt == SLUG_ATTEMPTS - 1:
                raise
    return None


def _discard(store: MediaStore, url: str | None) -> None:
    key = store.key_for_url(url)
    if key is not None:
        store.delete(key)


def post_generation_run(job_id: str, *, ai: AiSettings, store: MediaStore) -> dict[str, Any] | None:
    """The post_generation job: write the draft, draw its image (into ``store``), save both
    as an unpublished post. Any exception fails the job through dashboard.jobs.job_fail,
    which refunds (see ``post_generation_refund_in_job_fail``)."""
    with unit_of_work():  # a read of its own: nothing stays open while OpenAI works
        job = db.session.get(Job, job_id)
        params = dict(job.params or {})
        user_id = job.subject_user_id
    if user_id is None:
        raise GenerationFailed(ERR_USER_GONE)
    options = GenerationOptions.parse(params.get("options"))

    job_progress(job_id, 10, PROGRESS_WRITING)
    draft = draft_clean(
        ai_write_post(text=params["text"], options=options, user_id=user_id, settings=ai)
    )
    image_url = None
    if options.image:
        job_progress(job_id, 60, PROGRESS_DRAWING)
        image = ai_draw_image(prompt=draft.image_prompt, user_id=user_id, settings=ai)
        name = post_slugify(draft.slug_hint or draft.title, max_length=40) or "post"
        image_url = store.save(image.data, f"{name}{image.extension}")
    try:
        post_id = _save_post(
            job_id, user_id=user_id, params=params, draft=draft, image_url=image_url
        )
    except BaseException:
        _discard(store, image_url)
        raise
    if post_id is None:
        _discard(store, image_url)
        return None
    return {"post_id": post_id}


# --- stuck jobs ---------------------------------------------------------------------------


def posts_sweep_stuck(*, older_than: timedelta, actor: Actor = SWEEP_ACTOR) -> list[str]:
    """Fail and refund every generation job still queued or running with no sign of life
    (no progress) for longer than ``older_than``; return their ids. Each goes through
    ``job_fail``, so a job the worker finishes or fails at the same moment is refunded at
    most once, and a second sweep finds nothing. Raises BackofficeError for a zero age."""
    if older_than <= timedelta(0):
        raise BackofficeError(ERR_SWEEP_AGE)
    cutoff = utcnow() - older_than
    with unit_of_work():  # a read of its own: each job_fail below is its own transaction
        stuck = (
            db.session.execute(
                sa.select(Job.id)
                .where(Job.kind == JOB_KIND, Job.status.in_(UNFINISHED), Job.updated_at < cutoff)
                .order_by(Job.created_at)
            )
            .scalars()
            .all()
        )
    reason = ERR_STUCK.format(minutes=round(older_than.total_seconds() / 60))
    return [job_id for job_id in stuck if job_fail(job_id, reason, actor=actor)]
