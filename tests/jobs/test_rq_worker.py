"""Jobs really run through Redis on ``flask worker`` (RQ), and the jobs table records how
they went. Needs Redis at 127.0.0.1:6379: skipped with the reason when it is down, a
failure with CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import job_create
from dashboard.models import Job, JobStatus, StripeProduct
from dashboard.services.stripe.resync import stripe_resync_request
from tests.conftest import IN_CI, configured_test_database_url
from tests.fakes.stripe_server import FakeStripe
from tests.stripe_sync.world import build_world, stripe_settings

ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
STAFF = Actor(label="staff:admin@example.com", staff_id="staff-1", role="ADMIN")


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def rq_queue(committed_app, monkeypatch) -> Iterator[str]:  # noqa: ANN001
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue

    connection = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except RedisError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} unreachable ({exc}); start it to run RQ tests")
    name = f"backoffice-test-{uuid.uuid4().hex[:10]}"  # never another test run's queue
    monkeypatch.setitem(committed_app.config, "JOB_RUNNER", "rq")
    monkeypatch.setitem(committed_app.config, "REDIS_URL", REDIS_URL)
    monkeypatch.setitem(committed_app.config, "RQ_QUEUE", name)
    try:
        yield name
    finally:
        queue = Queue(name, connection=connection)
        queue.empty()
        queue.delete(delete_jobs=True)


def _run_worker(fake, queue: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "STRIPE"))}
    env.update(
        FLASK_APP="wsgi",
        BACKOFFICE_ENV="testing",
        DATABASE_URL=configured_test_database_url(),
        REDIS_URL=REDIS_URL,
        RQ_QUEUE=queue,
        STRIPE_SECRET_KEY=fake.api_key,
        STRIPE_API_BASE=fake.url,
        STRIPE_RETRY_BASE_MS="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_resync_job_runs_on_flask_worker_through_redis(committed_app, fake_stripe, rq_queue):
    from redis import Redis
    from rq import Queue

    world = build_world(fake_stripe)
    done = stripe_resync_request(
        settings=stripe_settings(), actor=STAFF, only=["products", "prices"]
    )
    broken = job_create(kind="stripe_resync", actor=STAFF, params={"only": ["coupons"]})
    db.session.commit()
    assert Queue(rq_queue, connection=Redis.from_url(REDIS_URL)).count == 2

    result = _run_worker(fake_stripe, rq_queue)

    assert result.returncode == 0, result.stderr
    db.session.expire_all()
    ok, failed = db.session.get(Job, done.id), db.session.get(Job, broken.id)
    assert (ok.status, ok.progress, ok.requested_by_staff_id) == (
        JobStatus.SUCCEEDED,
        100,
        "staff-1",
    )
    assert ok.result["types"]["products"]["created"] == 1 and ok.finished_at is not None
    assert failed.status == JobStatus.FAILED and "Unknown type(s) coupons" in failed.error
    assert db.session.get(StripeProduct, world.product["id"]) is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 2


def test_flask_worker_explains_a_missing_redis_url(committed_app):
    runner = committed_app.test_cli_runner()
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output
