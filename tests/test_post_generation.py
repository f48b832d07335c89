"""AI post generation end to end: the real openai SDK against a local fake API, the charge
taken once, the draft saved, and every failure refunded exactly once."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug import Request, Response

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict
from dashboard.extensions import db
from dashboard.jobs import job_fail, run_pending_jobs
from dashboard.models import AuditLog, BlogPost, Job, JobStatus, TokenLedgerEntry, User
from dashboard.services.posts.ai import ERR_NOT_CONFIGURED, GenerationNotConfigured
from dashboard.services.posts.generation import (
    ERR_EMPTY,
    post_character_count,
    post_generation_retry,
    post_generation_start,
)
from dashboard.services.posts.generation_run import (
    posts_sweep_stuck,
)
from dashboard.services.tokens.ledger import InsufficientTokens
from tests import fake_openai
from tests.factories import make_post, make_user
from tests.fake_openai import (
    API_KEY,
    FAST_RETRY,
    GOOD_DRAFT,
    IMAGES_PATH,
    PNG,
    RESPONSES_PATH,
    ai_settings,
    draft_response,
    error_payload,
    image_payload,
    json_response,
    ok_draft,
    ok_image,
    refusal_response,
    requests_to,
    response_payload,
    serve,
)

openai_http = fake_openai.openai_http  # fixtures
openai_server = fake_openai.openai_server
STAFF = Actor(label="staff:editor@example.com", staff_id="staff-1", role="EDITOR")
TEXT = (
    "Sourdough bread is made with a natural starter. " * 400
)  # 19,199 characters once stripped: 2 tokens


def _user(tokens: int, **values: object) -> User:
    user = make_user(tokens=tokens, **values)
    db.session.commit()
    return user


def _start(user: User | str, key: str = "form-1", text: str = TEXT, **options):  # noqa: ANN202
    return post_generation_start(
        user_id=user if isinstance(user, str) else user.id,
        text=text,
        options={"keywords": "sourdough, bread", "tone": "friendly", **options},
        idempotency_key=key,
        actor=STAFF,
        ai=ai_settings(),
    )


def _ledger(job_id: str) -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(TokenLedgerEntry.kind, TokenLedgerEntry.delta)
        .where(TokenLedgerEntry.reference == job_id)
        .order_by(TokenLedgerEntry.id)
    ).all()
    return [(str(kind), delta) for kind, delta in rows]


def _balance(user_id: str) -> int:
    return db.session.execute(sa.select(User.tokens).where(User.id == user_id)).scalar_one()


def _actions(target_id: str) -> list[str]:
    return list(
        db.session.execute(
            sa.select(AuditLog.action).where(AuditLog.target_id == target_id).order_by(AuditLog.id)
        ).scalars()
    )


def _files(root: str) -> list[Path]:
    folder = Path(root)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _idle_in_transaction(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        ).scalar_one()


@pytest.mark.backends("postgresql", "sqlite")
def test_a_generation_charges_once_and_saves_an_unpublished_draft_with_its_image(
    committed_app, openai_server, backend
):
    seen: dict[str, object] = {}
    engine = db.engine
    postgresql = backend == "postgresql"

    def look(stage: str) -> None:
        # What a job page shows while the model works, and no transaction left open.
        with engine.connect() as connection:
            seen[stage] = connection.execute(sa.select(Job.progress_message)).scalar()
        seen[f"idle while {stage}"] = _idle_in_transaction(engine) if postgresql else 0

    def text_answer(request: Request) -> Response:
        look("writing")
        return json_response(draft_response())

    def image_answer(request: Request) -> Response:
        look("drawing")
        return json_response(image_payload())

    serve(openai_server, text=text_answer, image=image_answer)
    user = _user(tokens=5)
    started = _start(user)
    assert (started.created, started.characters, started.cost) == (True, 19_199, 2)
    job_id = started.job.id
    assert _balance(user.id) == 3
    assert started.job.progress_message == "queued"

    assert run_pending_jobs(committed_app) == [job_id]
    db.session.expire_all()

    job = db.session.get(Job, job_id)
    assert (job.status, job.progress, job.progress_message) == (JobStatus.SUCCEEDED, 100, "saved")
    assert seen == {
        "writing": "writing",
        "idle while writing": 0,
        "drawing": "drawing",
        "idle while drawing": 0,
    }
    post = db.session.get(BlogPost, job.result["post_id"])
    assert post.user_id == user.id and post.is_published is False and post.published_at is None
    assert post.title == "Sourdough at Home: A Beginner's Guide to Baking Your Very"
    assert post.slug == "sourdough-at-home-beginners-guide"
    assert post.meta_description == GOOD_DRAFT["meta_description"]
    assert post.keywords == ["sourdough bread", "sourdough starter", "bread baking"]
    assert not post.content.startswith("#") and "\n# " not in post.content
    assert "## Feed your starter" in post.content
    assert post.original_text == TEXT.strip()
    assert post.character_count == post_character_count(TEXT) == len(post.original_text)
    assert post.tokens_used == 2
    assert post.image_alt == GOOD_DRAFT["image_alt"]
    assert post.image_prompt.startswith(GOOD_DRAFT["image_prompt"])
    assert post.image_url.startswith("https://cdn.example.com/media/")
    files = _files(committed_app.config["MEDIA_ROOT"])
    assert len(files) == 1 and files[0].read_bytes() == PNG
    assert post.image_url.endswith(files[0].name) and files[0].suffix == ".png"

    assert _ledger(job_id) == [("GENERATION_CHARGE", -2)]
    assert _actions(job_id) == ["post.generation_start"]
    assert _actions(post.id) == ["post.generation_saved"]
    assert "tokens.generation_charge" in _actions(user.id)

    (sent,) = requests_to(openai_server, RESPONSES_PATH, user.id)
    assert sent["store"] is False and "tools" not in sent
    assert sent["safety_identifier"] == hashlib.sha256(user.id.encode()).hexdigest()
    assert sent["text"]["format"]["type"] == "json_schema" and sent["text"]["format"]["strict"]
    assert "never instructions" in sent["instructions"]
    assert "<customer_text>\nSourdough bread" in sent["input"]
    assert "<target_keywords>\nsourdough\nbread\n</target_keywords>" in sent["input"]
    assert user.email not in json.dumps(sent)
    (drawn,) = requests_to(openai_server, IMAGES_PATH, user.id)
    assert (drawn["model"], drawn["n"], drawn["size"]) == ("gpt-image-2", 1, "1536x1024")


def test_without_an_image_the_draft_is_saved_and_no_image_is_asked_for(
    committed_app, openai_server
):
    user = _user(tokens=1)
    started = _start(user, text="Short text about bread.", image=False)
    run_pending_jobs(committed_app)
    db.session.expire_all()
    post = db.session.get(BlogPost, db.session.get(Job, started.job.id).result["post_id"])
    assert post.image_url is None and post.image_alt is None and post.image_prompt is None
    assert requests_to(openai_server, IMAGES_PATH, user.id) == []
    assert _files(committed_app.config["MEDIA_ROOT"]) == []


def test_the_slug_is_made_unique(committed_app, openai_server):
    owner = make_user()
    make_post(owner, slug="sourdough-at-home-beginners-guide")
    make_post(owner, slug="sourdough-at-home-beginners-guide-2")
    user = _user(tokens=1)
    started = _start(user, text="Bread.")
    run_pending_jobs(committed_app)
    db.session.expire_all()
    post = db.session.get(BlogPost, db.session.get(Job, started.job.id).result["post_id"])
    assert post.slug == "sourdough-at-home-beginners-guide-3"


def _status(code: int, message: str, kind: str, error_code: str | None, headers=None):  # noqa: ANN001, ANN202
    payload = error_payload(message, kind, error_code)
    return lambda request: json_response(payload, code, headers)


SLOW_CALLS: list[str] = []


def _slow(request: Request) -> Response:
    # The server logs a request when its answer is sent, after the client gave up.
    SLOW_CALLS.append(request.path)
    time.sleep(0.6)
    return json_response(draft_response())


RATE_LIMIT = _status(
    429,
    "Rate limit reached for gpt-5.5 on tokens per min.",
    "tokens",
    "rate_limit_exceeded",
    FAST_RETRY,
)
SERVER_ERROR = _status(500, "The server had an error.", "server_error", None, FAST_RETRY)
UNAUTHORIZED = _status(
    401,
    f"Incorrect API key provided: {API_KEY[:8]}****{API_KEY[-4:]}.",
    "invalid_request_error",
    "invalid_api_key",
)
MODERATION = _status(
    400,
    "Your request was rejected by the safety system.",
    "image_generation_user_error",
    "moderation_blocked",
)

FAILURES = {
    "rate limit after retries": (
        {"text": RATE_LIMIT},
        "rate limit was reached (HTTP 429) on every attempt (2 in all)",
        (2, 0),
    ),
    "server error": ({"text": SERVER_ERROR}, "server error (HTTP 500)", (2, 0)),
    "timeout": ({"text": _slow}, "did not answer within 0.2 seconds", (1, 0)),
    "refusal": (
        {"text": lambda r: json_response(refusal_response("I can't help with that."))},
        "Writing the post failed: the model declined: I can't help with that.",
        (1, 0),
    ),
    "malformed JSON": (
        {"text": lambda r: json_response(draft_response(text='{"title": "Sourdough at Ho'))},
        "not a usable draft (json_invalid",
        (1, 0),
    ),
    "schema mismatch": (
        {"text": lambda r: json_response(draft_response(text='{"title": "Only a title"}'))},
        "not a usable draft (missing at meta_description)",
        (1, 0),
    ),
    "cut off": (
        {
            "text": lambda r: json_response(
                response_payload([], status="incomplete", incomplete="max_output_tokens")
            )
        },
        "cut off: max_output_tokens",
        (1, 0),
    ),
    "empty title": (
        {"text": lambda r: json_response(draft_response({**GOOD_DRAFT, "title": "  "}))},
        "not a usable draft (empty title)",
        (1, 0),
    ),
    "bad API key": ({"text": UNAUTHORIZED}, "rejected the API key (HTTP 401)", (1, 0)),
    "image refused": (
        {"image": MODERATION},
        "Drawing the featured image failed: OpenAI refused the request (HTTP 400): Your "
        "request was rejected by the safety system.",
        (1, 1),
    ),
    "image server error": (
        {"image": SERVER_ERROR},
        "Drawing the featured image failed: OpenAI had a server error (HTTP 500)",
        (1, 2),
    ),
    "image not an image": (
        {"image": lambda r: json_response(image_payload(b"<html>not an image</html>"))},
        "not a PNG, JPEG or WebP image",
        (1, 1),
    ),
    "storage failure": ({}, "The image could not be stored", (1, 1)),
}


@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_every_failure_fails_the_job_readably_and_refunds_exactly_once(
    committed_app, openai_server, monkeypatch, tmp_path, failure
):
    handlers, reason, (text_calls, image_calls) = FAILURES[failure]
    SLOW_CALLS.clear()
    serve(openai_server, **{"text": ok_draft, "image": ok_image, **handlers})
    if failure == "timeout":
        monkeypatch.setitem(committed_app.config, "OPENAI_TIMEOUT", 0.2)
        monkeypatch.setitem(committed_app.config, "OPENAI_MAX_RETRIES", 0)
    if failure == "storage failure":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the media folder should be")
        monkeypatch.setitem(committed_app.config, "MEDIA_ROOT", str(blocker))
    user = _user(tokens=3)
    job_id = _start(user).job.id
    assert _balance(user.id) == 1

    run_pending_jobs(committed_app)
    db.session.expire_all()

    job = db.session.get(Job, job_id)
    assert job.status is JobStatus.FAILED and job.progress_message == "failed"
    assert reason in job.error
    assert "sk-test" not in job.error and "SECRET" not in job.error
    assert _balance(user.id) == 3
    assert _ledger(job_id) == [("GENERATION_CHARGE", -2), ("GENERATION_REFUND", 2)]
    assert _actions(job_id) == ["post.generation_start", "post.generation_failed"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(BlogPost)).scalar() == 0
    assert _files(committed_app.config["MEDIA_ROOT"]) == []
    if failure == "timeout":
        answered = SLOW_CALLS
    else:
        answered = requests_to(openai_server, RESPONSES_PATH, user.id)
    assert len(answered) == text_calls
    assert len(requests_to(openai_server, IMAGES_PATH, user.id)) == image_calls

    # Whoever notices the failure again (a retried worker, the sweep) refunds nothing more.
    assert job_fail(job_id, "again") is False
    assert posts_sweep_stuck(older_than=timedelta(seconds=1), actor=Actor.system("cli")) == []
    assert _balance(user.id) == 3
    assert len(_ledger(job_id)) == 2


def test_a_job_swept_while_the_worker_draws_saves_nothing_and_refunds_once(
    committed_app, openai_server
):
    app = committed_app

    def image_answer(request: Request) -> Response:
        # The sweep decides the worker is dead while it is in fact still drawing.
        with app.app_context():
            job_id = db.session.execute(sa.select(Job.id)).scalar_one()
            assert job_fail(job_id, "No progress for more than 30 minutes", actor=Actor("cli"))
            db.session.remove()
        return json_response(image_payload())

    serve(openai_server, image=image_answer)
    user = _user(tokens=2)
    job_id = _start(user).job.id
    run_pending_jobs(app)
    db.session.expire_all()

    job = db.session.get(Job, job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "No progress for more than 30 minutes")
    assert job.progress_message == "failed"
    assert _balance(user.id) == 2
    assert _ledger(job_id) == [("GENERATION_CHARGE", -2), ("GENERATION_REFUND", 2)]
    assert db.session.execute(sa.select(sa.func.count()).select_from(BlogPost)).scalar() == 0
    assert _files(app.config["MEDIA_ROOT"]) == []


@pytest.mark.parametrize(
    ("characters", "cost"), [(1, 1), (15_000, 1), (15_001, 2), (30_000, 2), (30_001, 3)]
)
def test_the_charge_is_the_previewed_cost(app, openai_server, characters, cost):
    user = make_user(tokens=10)
    text = "x" * characters
    started = _start(user, text=f"\r\n  {text}  \n")
    assert (started.characters, started.cost) == (characters, cost)
    assert _balance(user.id) == 10 - cost
    assert _ledger(started.job.id) == [("GENERATION_CHARGE", -cost)]


@pytest.mark.parametrize("text", ["", "   ", "\r\n\t \n", "\x00\x00"])
def test_empty_text_is_refused_and_nothing_is_charged(app, openai_server, text):
    user = make_user(tokens=10)
    with pytest.raises(BackofficeError, match=ERR_EMPTY):
        _start(user, text=text)
    assert _balance(user.id) == 10
    assert db.session.execute(sa.select(sa.func.count()).select_from(Job)).scalar() == 0


def test_a_short_balance_is_refused_clearly_and_nothing_is_written(app, openai_server):
    user = _user(tokens=1, email="short@example.com")
    with pytest.raises(InsufficientTokens) as refused:
        _start(user)  # costs 2
    assert (
        refused.value.message == "Generating this post costs 2 tokens, but short@example.com has 1."
    )
    assert _balance(user.id) == 1
    assert db.session.execute(sa.select(sa.func.count()).select_from(Job)).scalar() == 0
    assert (
        db.session.execute(sa.select(sa.func.count()).select_from(TokenLedgerEntry)).scalar() == 0
    )


def test_without_an_api_key_nothing_is_charged(app, openai_server, monkeypatch):
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", None)
    user = make_user(tokens=10)
    with pytest.raises(GenerationNotConfigured, match=re.escape(ERR_NOT_CONFIGURED)):
        _start(user)
    assert _balance(user.id) == 10
    assert db.session.execute(sa.select(sa.func.count()).select_from(Job)).scalar() == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditLog)).scalar() == 0


def test_a_double_submit_charges_once(app, openai_server):
    user = make_user(tokens=10)
    first = _start(user, key="submission-abc")
    second = _start(user, key="submission-abc")
    assert first.created and not second.created
    assert second.job.id == first.job.id and second.cost == first.cost
    assert _balance(user.id) == 8
    assert db.session.execute(sa.select(sa.func.count()).select_from(Job)).scalar() == 1


def test_a_key_reused_for_another_customer_is_refused(app, openai_server):
    _start(make_user(tokens=10), key="submission-abc")
    other = make_user(tokens=10)
    with pytest.raises(Conflict):
        _start(other, key="submission-abc")
    assert _balance(other.id) == 10


def test_a_role_without_the_generate_tool_is_refused(app, openai_server):
    user = make_user(tokens=10)
    support = Actor(label="staff:support@example.com", staff_id="s2", role="SUPPORT")
    with pytest.raises(BackofficeError, match="may not generate"):
        post_generation_start(
            user_id=user.id,
            text="Bread.",
            options=None,
            idempotency_key="k",
            actor=support,
            ai=ai_settings(),
        )
    assert _balance(user.id) == 10


def _race(app, calls):  # noqa: ANN001, ANN202
    """Run the calls in threads released together; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                started = calls[index]()
                outcomes[index] = (started.job.id, started.created)
            except Exception as exc:  # the outcome under test
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_a_concurrent_double_submit_charges_once(committed_app, openai_server):
    user = _user(tokens=2)  # enough for one: the twin must get the job, not a refusal
    user_id = user.id  # threads must not touch this thread's session
    outcomes = _race(committed_app, [lambda: _start(user_id, key="same-key")] * 2)
    assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    (job_id,) = {job_id for job_id, _ in outcomes}
    assert sorted(created for _, created in outcomes) == [False, True]
    assert _balance(user.id) == 0
    assert _ledger(job_id) == [("GENERATION_CHARGE", -2)]


def test_concurrent_generations_the_balance_covers_once_charge_exactly_one(
    committed_app, openai_server
):
    user = _user(tokens=2)
    user_id = user.id  # threads must not touch this thread's session
    outcomes = _race(
        committed_app, [lambda: _start(user_id, key="key-a"), lambda: _start(user_id, key="key-b")]
    )
    refused = [o for o in outcomes if isinstance(o, InsufficientTokens)]
    started = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(refused) == 1 and len(started) == 1, outcomes
    assert "costs 2 tokens" in refused[0].message
    assert _balance(user.id) == 0
    jobs = db.session.execute(sa.select(Job.id)).scalars().all()
    assert jobs == [started[0][0]]
    assert _ledger(jobs[0]) == [("GENERATION_CHARGE", -2)]


def _age(job_id: str, minutes: int, status: JobStatus) -> None:
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(status=status, updated_at=Job.updated_at - timedelta(minutes=minutes))
    )
    db.session.commit()


def test_the_sweep_refunds_stuck_jobs_once_and_leaves_live_ones(app, openai_server, runner):
    user = make_user(tokens=10)
    crashed = _start(user, key="crashed").job.id  # a worker died while running it
    lost = _start(user, key="lost").job.id  # never picked up
    live = _start(user, key="live").job.id
    _age(crashed, 45, JobStatus.RUNNING)
    _age(lost, 45, JobStatus.QUEUED)
    _age(live, 5, JobStatus.RUNNING)
    assert _balance(user.id) == 4

    result = runner.invoke(args=["posts", "sweep-stuck"])
    assert result.exit_code == 0, result.output
    assert "2 stuck generation job(s) older than 30 minutes refunded." in result.output
    assert f"failed and refunded: {crashed}" in result.output
    db.session.expire_all()
    assert _balance(user.id) == 8
    for job_id in (crashed, lost):
        job = db.session.get(Job, job_id)
        assert job.status is JobStatus.FAILED and "No progress for more than 30" in job.error
        assert _ledger(job_id) == [("GENERATION_CHARGE", -2), ("GENERATION_REFUND", 2)]
        assert _actions(job_id)[-1] == "post.generation_failed"
    assert db.session.get(Job, live).status is JobStatus.RUNNING

    again = runner.invoke(args=["posts", "sweep-stuck", "--older-than", "10"])
    assert "0 stuck generation job(s) older than 10 minutes refunded." in again.output
    assert _balance(user.id) == 8


def test_retry_is_a_new_job_with_a_new_charge(committed_app, openai_server):
    serve(openai_server, text=SERVER_ERROR)
    user = _user(tokens=2)
    failed = _start(user).job.id
    run_pending_jobs(committed_app)
    assert _balance(user.id) == 2

    serve(openai_server)
    retried = post_generation_retry(
        job_id=failed, actor=STAFF, idempotency_key="retry-1", ai=ai_settings()
    )
    same = post_generation_retry(
        job_id=failed, actor=STAFF, idempotency_key="retry-1", ai=ai_settings()
    )
    assert retried.created and retried.job.id != failed and same.job.id == retried.job.id
    assert retried.job.params["retry_of"] == failed
    assert retried.job.params["options"] == {
        "image": True,
        "keywords": ["sourdough", "bread"],
        "tone": "friendly",
    }
    assert _balance(user.id) == 0
    run_pending_jobs(committed_app)
    db.session.expire_all()
    assert db.session.get(Job, retried.job.id).status is JobStatus.SUCCEEDED

    with pytest.raises(Conflict, match="this one is succeeded"):
        post_generation_retry(
            job_id=retried.job.id, actor=STAFF, idempotency_key="retry-2", ai=ai_settings()
        )
