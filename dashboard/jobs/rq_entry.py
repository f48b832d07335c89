"""RQ's entry point (``dashboard.jobs.RQ_ENTRY``): the root of a worker process, as
``wsgi.py`` is the root of the web process.

Under ``flask worker`` a job runs inside that command's app. Any other RQ worker (``rq
worker``) has no app, so the first job builds one with the factory and keeps it for the
process. The factory is imported when that first job runs, not at import: nothing in the app
imports this module (RQ finds it by name), so the app and its jobs never import each other.
"""

from __future__ import annotations

from flask import Flask, has_app_context

from dashboard.extensions import db
from dashboard.jobs import execute_job

_worker_app: Flask | None = None


def _app() -> Flask:
    global _worker_app
    if _worker_app is None:
        from dashboard import create_app

        _worker_app = create_app()
    return _worker_app


def run_job(job_id: str) -> None:
    """Run one job by id in this process's app, one app context per job."""
    if has_app_context():
        execute_job(job_id)
        db.session.remove()
        return
    with _app().app_context():
        execute_job(job_id)
        db.session.remove()
