"""Background jobs: a row in ``bo_job`` for every piece of long work, run after commit.

Where jobs run (``JOB_RUNNER``):
- ``rq``: on RQ workers through Redis (``REDIS_URL``); the production setting.
- ``thread``: in a background thread of the web process; the embedded default, so the
  first README command needs no Redis.
- ``inline``: collected and run by ``run_pending_jobs()``; for tests and CLI commands that
  want the result before they exit.

A job kind is a function ``handler(job_id: str) -> dict | None`` that re-reads what it needs
by id and calls a service. ``create_app`` registers every kind with ``job_register``: this
package is below the services (they create jobs with ``job_create``), so it never imports
them. Whatever ran a job, ``execute_job`` records start, progress, result and error on the
row.

A kind whose creation took something that a failure must give back (a token charge)
registers ``on_failure`` too: ``job_fail`` runs it in the very transaction that marks the job
failed, guarded by the job's status, so it runs exactly once whoever notices the failure
first (the worker, or a sweep of stuck jobs). A handler whose result must be committed
together with the success mark calls ``job_succeed`` in its own transaction.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import Job, JobStatus, utcnow

JobHandler = Callable[[str], "dict[str, Any] | None"]
# on_failure(job_id, error, actor): runs inside job_fail's transaction; must not commit.
FailureHook = Callable[[str, str, Actor], None]
JOB_HANDLERS: dict[str, JobHandler] = {}
JOB_FAILURE_HOOKS: dict[str, FailureHook] = {}
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
_PENDING_KEY = "backoffice_pending_jobs"
# What an RQ worker calls with the job id (see dashboard.jobs.rq_entry).
RQ_ENTRY = "dashboard.jobs.rq_entry.run_job"


def job_register(kind: str, handler: JobHandler, *, on_failure: FailureHook | None = None) -> None:
    """Make ``handler`` run jobs of ``kind``, and ``on_failure`` what ``job_fail`` does, in
    its transaction, when a job of that kind fails. Registering a kind again replaces it."""
    JOB_HANDLERS[kind] = handler
    if on_failure is None:
        JOB_FAILURE_HOOKS.pop(kind, None)
    else:
        JOB_FAILURE_HOOKS[kind] = on_failure


def job_create(
    *,
    kind: str,
    actor: Actor,
    params: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    subject_user_id: str | None = None,
) -> Job:
    """Add a queued job to the current transaction; it is dispatched once that commits."""
    job = Job(
        kind=kind,
        params=params,
        idempotency_key=idempotency_key,
        subject_user_id=subject_user_id,
        requested_by_label=actor.label,
        requested_by_staff_id=actor.staff_id,
        status=JobStatus.QUEUED,
    )
    db.session.add(job)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append(job.id)
    return job


def _after_commit(session: sa.orm.Session) -> None:
    job_ids = session.info.pop(_PENDING_KEY, [])
    if job_ids:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        for job_id in job_ids:
            dispatch(app, job_id)


def _after_rollback(session: sa.orm.Session, previous_transaction: object) -> None:
    if previous_transaction is None or getattr(previous_transaction, "parent", None) is None:
        session.info.pop(_PENDING_KEY, None)


def dispatch(app: Flask, job_id: str) -> None:
    runner = app.config.get("JOB_RUNNER", "thread")
    if runner == "rq":
        from rq import Queue

        Queue(app.config.get("RQ_QUEUE", "backoffice"), connection=redis_connection(app)).enqueue(
            RQ_ENTRY, job_id, job_timeout=app.config.get("JOB_TIMEOUT", 3600)
        )
    elif runner == "inline":
        app.extensions.setdefault("inline_jobs", []).append(job_id)
    else:
        thread = threading.Thread(
            target=_run_in_thread, args=(app, job_id), name=f"job-{job_id}", daemon=True
        )
        thread.start()
        app.extensions.setdefault("job_threads", []).append(thread)


def redis_connection(app: Flask) -> Any:
    from redis import Redis

    return Redis.from_url(app.config["REDIS_URL"])


def _run_in_thread(app: Flask, job_id: str) -> None:
    with app.app_context():
        execute_job(job_id)
        db.session.remove()


def run_pending_jobs(app: Flask | None = None) -> list[str]:
    """Run the jobs the ``inline`` runner collected, oldest first; return their ids."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    done = []
    queue = app.extensions.setdefault("inline_jobs", [])
    while queue:
        job_id = queue.pop(0)
        execute_job(job_id)
        done.append(job_id)
    return done


def job_progress(job_id: str, percent: int, message: str | None = None) -> None:
    """Record progress in its own short transaction, so pages see it while the job runs.
    A job that has finished meanwhile (failed by a sweep) keeps its final message."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.status.in_(UNFINISHED))
            .values(
                progress=max(0, min(100, percent)), progress_message=message, updated_at=utcnow()
            )
        )


def execute_job(job_id: str) -> None:
    """Run one job by id and record how it went. A job that is not queued (already run,
    or run by another worker) is left alone."""
    claimed = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING, started_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return
    kind = db.session.execute(sa.select(Job.kind).where(Job.id == job_id)).scalar_one()
    # End the read transaction: a handler may wait minutes on a remote service.
    db.session.commit()
    handler = JOB_HANDLERS.get(kind)
    try:
        if handler is None:
            raise RuntimeError(f"no handler for job kind {kind!r}")
        result = handler(job_id)
    except Exception as exc:  # the job's failure is recorded, never lost in a log
        db.session.rollback()
        current_app.logger.error("job %s (%s) failed:\n%s", job_id, kind, traceback.format_exc())
        try:
            job_fail(job_id, str(exc) or exc.__class__.__name__)
        except Exception:
            # Nothing was written: the job stays running and a stuck-job sweep retries.
            current_app.logger.exception("job %s: recording its failure failed", job_id)
        return
    _finish(job_id, JobStatus.SUCCEEDED, result=result)


def job_fail(job_id: str, error: str, *, actor: Actor | None = None) -> bool:
    """Mark a queued or running job failed with ``error`` and run its kind's ``on_failure``
    hook in the same transaction; commit.

    Returns False, writing nothing, when the job had already finished: the status-guarded
    UPDATE lets only the first of two racing callers (the worker and a sweep) through, so
    the hook runs at most once per job. If the hook raises, nothing is written, the job
    keeps its status and the exception propagates. ``actor`` defaults to ``job:<kind>``.
    """
    now = utcnow()
    try:
        kind = db.session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.status.in_(UNFINISHED))
            .values(status=JobStatus.FAILED, error=error, finished_at=now, updated_at=now)
            .returning(Job.kind)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if kind is None:
            db.session.rollback()
            return False
        hook = JOB_FAILURE_HOOKS.get(kind)
        if hook is not None:
            hook(job_id, error, actor or Actor.system(f"job:{kind}"))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return True


def job_succeed(job_id: str, *, result: dict | None = None, message: str | None = None) -> bool:
    """Mark a running job succeeded in the caller's transaction (no commit), so that the
    job's own writes and its success commit together.

    Returns False, changing nothing, when the job is no longer running (a sweep failed it
    meanwhile): the caller must then roll back what it meant to commit with it. The row
    stays locked until the caller's transaction ends, so a racing ``job_fail`` waits and
    then finds the job finished.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "status": JobStatus.SUCCEEDED,
        "progress": 100,
        "result": result,
        "finished_at": now,
        "updated_at": now,
    }
    if message is not None:
        values["progress_message"] = message
    changed = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(changed)


def _finish(
    job_id: str, status: JobStatus, *, result: dict | None = None, error: str | None = None
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "finished_at": utcnow(),
        "updated_at": utcnow(),
        "error": error,
    }
    if status is JobStatus.SUCCEEDED:
        values["progress"] = 100
        values["result"] = result
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def init_app(app: Flask) -> None:
    """Dispatch jobs when the transaction that created them commits."""
    if app.config.get("JOB_RUNNER") is None:
        app.config["JOB_RUNNER"] = "rq" if app.config.get("REDIS_URL") else "thread"
    if not sa.event.contains(sa.orm.Session, "after_commit", _after_commit):
        sa.event.listen(sa.orm.Session, "after_commit", _after_commit)
        sa.event.listen(sa.orm.Session, "after_soft_rollback", _after_rollback)
