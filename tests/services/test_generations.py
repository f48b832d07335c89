"""What the generation pages read: a job's progress word, its state, the latest jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.core.errors import NotFound
from dashboard.extensions import db
from dashboard.models import Job, JobStatus, utcnow
from dashboard.services.posts.generation import JOB_KIND
from dashboard.services.posts.generation_status import (
    RECENT_LIMIT,
    post_generation_state,
    post_generations_recent,
    progress_word,
)
from tests.factories import make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def _job(user=None, *, kind=JOB_KIND, minutes_ago=0, **values):  # noqa: ANN001, ANN202
    job = Job(
        kind=kind,
        requested_by_label="staff:editor@example.com",
        subject_user_id=user.id if user else None,
        params={"text": "x" * 20_000, "characters": 20_000, "cost": 2},
        created_at=utcnow() - timedelta(minutes=minutes_ago),
        **values,
    )
    db.session.add(job)
    db.session.flush()
    return job


@pytest.mark.parametrize(
    ("status", "message", "word"),
    [
        (JobStatus.QUEUED, "queued", "queued"),
        (JobStatus.QUEUED, None, "queued"),
        (JobStatus.RUNNING, "writing", "writing"),
        (JobStatus.RUNNING, "drawing", "drawing"),
        (JobStatus.RUNNING, "50% done", "writing"),
        (JobStatus.SUCCEEDED, "saved", "saved"),
        (JobStatus.SUCCEEDED, "drawing", "saved"),
        (JobStatus.FAILED, "writing", "failed"),
        (JobStatus.FAILED, None, "failed"),
    ],
)
def test_the_progress_word(status, message, word):
    assert progress_word(status, message) == word


def test_the_latest_generations_newest_first_without_other_kinds(app, backend):
    user = make_user(email="recent@example.com")
    for minutes in range(RECENT_LIMIT + 1):
        _job(user, minutes_ago=minutes + 1, status=JobStatus.SUCCEEDED, progress_message="saved")
    newest = _job(None, status=JobStatus.RUNNING, progress_message="drawing")  # user deleted
    _job(user, kind="stripe_resync")
    rows = post_generations_recent()
    assert len(rows) == RECENT_LIMIT
    assert (rows[0].job_id, rows[0].user_email, rows[0].word) == (newest.id, None, "drawing")
    assert {(r.user_email, r.word, r.cost) for r in rows[1:]} == {
        ("recent@example.com", "saved", 2)
    }
    assert [r.created_at for r in rows] == sorted((r.created_at for r in rows), reverse=True)


def test_the_state_of_a_failed_job_without_a_charge(app, backend):
    user = make_user()
    job = _job(user, status=JobStatus.FAILED, error="It broke.", progress_message="failed")
    state = post_generation_state(job.id)
    assert (state.word, state.finished, state.error, state.refunded) == (
        "failed",
        True,
        "It broke.",
        0,
    )
    assert state.retryable and state.post is None and state.cost == 2


@pytest.mark.parametrize("job_id", ["missing", "a\x00b", "x" * 1000])
def test_unknown_jobs_and_other_kinds_are_not_found(app, backend, job_id):
    other = _job(None, kind="stripe_resync")
    for wanted in (job_id, other.id):
        with pytest.raises(NotFound):
            post_generation_state(wanted)
