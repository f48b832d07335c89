"""dashboard.jobs: a failure mark and its on_failure hook commit together, once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import (
    JOB_FAILURE_HOOKS,
    JOB_HANDLERS,
    job_create,
    job_fail,
    job_progress,
    job_register,
    job_succeed,
    run_pending_jobs,
)
from dashboard.models import AuditLog, Job, JobStatus
from dashboard.services.audit import audit_record

KIND = "test_failing"


@pytest.fixture
def failing_kind():
    calls: list[tuple[str, str, str]] = []

    def hook(job_id: str, error: str, actor: Actor) -> None:
        calls.append((job_id, error, actor.label))
        audit_record(actor=actor, action="test.compensated", target_model="Job", target_id=job_id)

    def handler(job_id: str) -> None:
        raise RuntimeError("the remote service said no")

    job_register(KIND, handler, on_failure=hook)
    yield calls
    JOB_HANDLERS.pop(KIND, None)
    JOB_FAILURE_HOOKS.pop(KIND, None)


def _job() -> str:
    job = job_create(kind=KIND, actor=Actor.system("cli"))
    db.session.commit()
    return job.id


def _compensations(job_id: str) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).where(
            AuditLog.action == "test.compensated", AuditLog.target_id == job_id
        )
    ).scalar_one()


def test_a_failing_handler_runs_its_hook_once(committed_app, failing_kind):
    job_id = _job()
    run_pending_jobs(committed_app)
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "the remote service said no")
    assert failing_kind == [(job_id, "the remote service said no", f"job:{KIND}")]
    assert _compensations(job_id) == 1

    assert job_fail(job_id, "again", actor=Actor.system("cli")) is False
    assert len(failing_kind) == 1 and _compensations(job_id) == 1
    assert db.session.get(Job, job_id).error == "the remote service said no"


def test_a_hook_that_fails_leaves_the_job_unfinished_for_the_sweep(app, failing_kind):
    def broken(job_id: str, error: str, actor: Actor) -> None:
        audit_record(actor=actor, action="test.compensated", target_id=job_id)
        raise RuntimeError("database went away")

    JOB_FAILURE_HOOKS[KIND] = broken
    job_id = _job()
    with pytest.raises(RuntimeError, match="database went away"):
        job_fail(job_id, "boom")
    db.session.expire_all()
    assert db.session.get(Job, job_id).status is JobStatus.QUEUED
    assert _compensations(job_id) == 0


def test_succeeding_is_refused_once_the_job_failed(app, failing_kind):
    job_id = _job()
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(status=JobStatus.RUNNING))
    assert job_fail(job_id, "swept", actor=Actor.system("cli"))
    assert job_succeed(job_id, result={"x": 1}) is False
    db.session.expire_all()
    assert db.session.get(Job, job_id).status is JobStatus.FAILED


def test_progress_never_overwrites_a_finished_job(committed_app, failing_kind):
    job_id = _job()
    assert job_fail(job_id, "swept")
    job_progress(job_id, 50, "drawing")
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert (job.progress, job.progress_message) == (0, None)
