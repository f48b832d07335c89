"""Blog posts: what a character is, what a post costs, slugs, and generating a post with AI,
charged exactly once.

Characters, the one definition used for the preview, the charge and
``BlogPost.characterCount``: the number of Unicode code points of the text after line
endings are normalised to "\\n" (CRLF and lone CR), NUL characters are removed (PostgreSQL
cannot store them) and surrounding whitespace is stripped. Nothing else is normalised: "é"
typed as one code point counts 1, as "e" plus a combining accent 2; an emoji counts its
code points (👍 is 1, a family joined by zero-width joiners 5 or more). The normalised text
is what ``originalText`` stores, so ``characterCount == len(originalText)``.

Cost: ``ceil(characters / 15,000)`` tokens; 1 to 15,000 characters cost 1, 15,001 cost 2.
Empty text is refused.

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

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound, PermissionDenied
from dashboard.extensions import db
from dashboard.jobs import UNFINISHED, job_create, job_fail, job_progress, job_succeed
from dashboard.models import (
    BlogPost,
    Job,
    JobStatus,
    LedgerKind,
    TokenLedgerEntry,
    User,
    cuid,
    utcnow,
)
from dashboard.permissions import Tool, can
from dashboard.services.audit import audit_record
from dashboard.services.posts.ai import (
    ERR_NOT_CONFIGURED,
    GenerationFailed,
    GenerationNotConfigured,
    GenerationOptions,
    ai_configured,
    ai_draw_image,
    ai_write_post,
)
from dashboard.services.posts.drafts import CleanDraft, draft_clean
from dashboard.services.posts.media import MediaStore, media_store
from dashboard.services.tokens.ledger import InsufficientTokens, tokens_apply

ERR_EMPTY = "The text is empty: paste or upload the customer's text first."
ERR_TOO_LONG = "The text has {characters:,} characters; at most {limit:,} can be generated at once."
ERR_KEY = "Missing or malformed submission key; reload the page and submit again."
ERR_KEY_REUSED = "This submission key belongs to another request; reload the page and submit again."
ERR_USER = "No user with id {user_id}."
ERR_BALANCE = "Generating this post costs {cost} token{s}, but {email} has {balance}."
ERR_JOB = "No post generation with id {job_id}."
ERR_NOT_RETRYABLE = "Only a failed generation can be retried; this one is {status}."
ERR_USER_GONE = "The customer's account no longer exists."
ERR_FORBIDDEN = "Your role may not generate posts."
ERR_SWEEP_AGE = "The age of a stuck job must be more than zero."
ERR_UPLOAD_TYPE = "Upload a .txt or .md file, not {name!r}."
ERR_UPLOAD_SIZE = "The file is {size:,} bytes; at most {limit:,} bytes can be uploaded."
ERR_UPLOAD_ENCODING = (
    "The file is not UTF-8 text (unreadable byte at position {position:,}); "
    "save it as UTF-8 and upload it again."
)
ERR_STUCK = (
    "No progress for more than {minutes} minutes (the worker stopped or was restarted); "
    "the tokens were refunded."
)

JOB_KIND = "post_generation"
CHARACTERS_PER_TOKEN = 15_000
MAX_CHARACTERS = 150_000
SLUG_MAX_LENGTH = 60
SLUG_ATTEMPTS = 3
KEY_MAX_LENGTH = 200
UPLOAD_EXTENSIONS = (".txt", ".md", ".markdown")
UPLOAD_MAX_BYTES = 1_000_000
PROGRESS_QUEUED = "queued"
PROGRESS_WRITING = "writing"
PROGRESS_DRAWING = "drawing"
PROGRESS_SAVED = "saved"
PROGRESS_FAILED = "failed"
JOB_ACTOR = Actor.system(f"job:{JOB_KIND}")
SWEEP_ACTOR = Actor.system("posts-sweep")

# Letters NFKD does not decompose into ASCII.
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ł": "l",
        "Ł": "L",
        "ı": "i",
        "'": None,
        "’": None,
    }
)


# --- characters, cost, slugs ------------------------------------------------------------


def post_text_normalise(text: str) -> str:
    """The text as it is counted and stored (see the module docstring)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


def post_character_count(text: str) -> int:
    """The number of characters of ``text``, as the module docstring defines them."""
    return len(post_text_normalise(text))


def _cost(characters: int) -> int:
    if characters <= 0:
        raise BackofficeError(ERR_EMPTY)
    return -(-characters // CHARACTERS_PER_TOKEN)


def post_generation_cost(text: str) -> int:
    """Tokens a generation from ``text`` costs: ceil(characters / 15,000). Raises
    BackofficeError for empty (or whitespace-only) text."""
    return _cost(post_character_count(text))


def post_text_from_upload(*, filename: str, data: bytes) -> str:
    """The text of an uploaded .txt/.md file: UTF-8 (a byte-order mark is dropped), at most
    UPLOAD_MAX_BYTES. Raises BackofficeError naming what is wrong with the file."""
    name = (filename or "").strip()
    if not name.lower().endswith(UPLOAD_EXTENSIONS):
        raise BackofficeError(ERR_UPLOAD_TYPE.format(name=name))
    if len(data) > UPLOAD_MAX_BYTES:
        raise BackofficeError(ERR_UPLOAD_SIZE.format(size=len(data), limit=UPLOAD_MAX_BYTES))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BackofficeError(ERR_UPLOAD_ENCODING.format(position=exc.start + 1)) from None


@dataclass(frozen=True)
class GenerationPreview:
    """What the Generate page shows before staff confirm."""

    characters: int
    cost: int  # 0 for empty text
    balance: int
    problem: str | None  # why Generate would be refused now, or None


def post_generation_preview(*, user_id: str, text: str) -> GenerationPreview:
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
    if not ai_configured():
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


def post_slugify(title: str, *, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Lowercase ASCII words of ``title`` joined by hyphens, accents transliterated
    ("Crème brûlée à Paris" → "creme-brulee-a-paris"), cut to ``max_length`` at a word
    boundary. Characters with no ASCII form are dropped; the result may be empty."""
    ascii_text = (
        unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_text.lower()))
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
    return slug.strip("-")


def post_unique_slug(
    base: str, *, exclude_post_id: str | None = None, max_length: int = SLUG_MAX_LENGTH
) -> str:
    """``base`` slugified (or "post" if nothing is left), with "-2", "-3", ... appended
    when another post has it; ``exclude_post_id`` is the post being renamed, whose own slug
    does not count. Only a hint under concurrency: the unique index BlogPost_slug_key has
    the last word, so a caller that inserts retries on its IntegrityError."""
    slug = post_slugify(base, max_length=max_length) or "post"
    query = sa.select(BlogPost.slug).where(
        sa.or_(BlogPost.slug == slug, BlogPost.slug.like(f"{slug}-%"))
    )
    if exclude_post_id is not None:
        query = query.where(BlogPost.id != exclude_post_id)
    taken = set(db.session.execute(query).scalars())
    candidate, number = slug, 1
    while candidate in taken:
        number += 1
        candidate = f"{slug}-{number}"
    return candidate


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
    if not ai_configured():
        raise GenerationNotConfigured(ERR_NOT_CONFIGURED)
    key = _job_key(idempotency_key)
    if not isinstance(options, GenerationOptions):
        options = GenerationOptions.parse(options)
    clean = post_text_normalise(text or "")
    characters = len(clean)
    cost = _cost(characters)
    if characters > MAX_CHARACTERS:
        raise BackofficeError(ERR_TOO_LONG.format(characters=characters, limit=MAX_CHARACTERS))

    existing = _job_by_key(key)
    if existing is not None:
        return _seen_before(existing, user_id)
    try:
        # Lock the user before inserting the job: the job's foreign key takes a share lock
        # on the user row, and two generations each holding one while waiting for the
        # other's would deadlock in tokens_apply. Locked first, they simply queue.
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
        existing = _job_by_key(key)
        if existing is not None:
            db.session.rollback()
            return _seen_before(existing, user_id)
        if user.tokens < cost:  # authoritative under the lock; tokens_apply guards too
            raise InsufficientTokens(
                ERR_BALANCE.format(
                    cost=cost, s="" if cost == 1 else "s", email=user.email, balance=user.tokens
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
        tokens_apply(
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
        db.session.commit()
    except IntegrityError:
        # A twin submission with the same key committed first: answer with its job.
        db.session.rollback()
        existing = _job_by_key(key)
        if existing is None:
            raise
        return _seen_before(existing, user_id)
    except Exception:
        db.session.rollback()
        raise
    return GenerationStarted(job, True, characters, cost)


def post_generation_get(job_id: str) -> Job:
    """The generation job ``job_id`` (for its page: status, progress_message, error, result).
    Raises NotFound for an unknown id or a job of another kind."""
    job = db.session.get(Job, job_id)
    if job is None or job.kind != JOB_KIND:
        raise NotFound(ERR_JOB.format(job_id=job_id))
    return job


def post_generation_retry(*, job_id: str, actor: Actor, idempotency_key: str) -> GenerationStarted:
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
        retry_of=job_id,
    )


# --- the job --------------------------------------------------------------------------------


def post_generation_refund_failed(job_id: str, error: str, actor: Actor) -> None:
    """The post_generation kind's on_failure hook (registered by create_app): runs inside
    ``job_fail``'s transaction, once per job, and never commits."""
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
        tokens_apply(
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
            if not job_succeed(job_id, result={"post_id": post_id}, message=PROGRESS_SAVED):
                db.session.rollback()
                return None
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
            db.session.commit()
            return post_id
        except IntegrityError as exc:
            db.session.rollback()
            # Another post took the slug between our check and our insert: pick again.
            if "slug" not in str(exc.orig) or attempt == SLUG_ATTEMPTS - 1:
                raise
    return None


def _discard(store: MediaStore, url: str | None) -> None:
    key = store.key_for_url(url)
    if key is not None:
        store.delete(key)


def post_generation_run(job_id: str) -> dict[str, Any] | None:
    """The post_generation job: write the draft, draw its image, save both as an
    unpublished post. Any exception fails the job through dashboard.jobs.job_fail, which
    refunds (see ``post_generation_refund_failed``)."""
    job = db.session.get(Job, job_id)
    params = dict(job.params or {})
    user_id = job.subject_user_id
    db.session.commit()  # nothing stays open while OpenAI works
    if user_id is None:
        raise GenerationFailed(ERR_USER_GONE)
    options = GenerationOptions.parse(params.get("options"))

    job_progress(job_id, 10, PROGRESS_WRITING)
    draft = draft_clean(ai_write_post(text=params["text"], options=options, user_id=user_id))
    store = media_store()
    image_url = None
    if options.image:
        job_progress(job_id, 60, PROGRESS_DRAWING)
        image = ai_draw_image(prompt=draft.image_prompt, user_id=user_id)
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
    stuck = (
        db.session.execute(
            sa.select(Job.id)
            .where(Job.kind == JOB_KIND, Job.status.in_(UNFINISHED), Job.updated_at < cutoff)
            .order_by(Job.created_at)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    reason = ERR_STUCK.format(minutes=round(older_than.total_seconds() / 60))
    return [job_id for job_id in stuck if job_fail(job_id, reason, actor=actor)]
