"""Test harness.

Every database test runs on PostgreSQL (``TEST_DATABASE_URL``, default
postgresql://postgres@127.0.0.1:5432/test); modules that mark themselves with
``pytestmark = pytest.mark.backends("postgresql", "sqlite")`` run on SQLite too, for the
embedded default. Without a reachable PostgreSQL the PostgreSQL tests are skipped with a line
saying how to enable them, except with ``CI=true``, where that is a failure.

Fixtures:
- ``app``: the application over a database whose schema was built by the migrations; each
  test runs inside an outer transaction that is rolled back, so services can commit and roll
  back as in production without leaking rows into the next test.
- ``committed_app``: the application over a real engine, for tests that need other threads or
  processes (concurrency, a live server for the browser); the tables are emptied afterwards.
- ``client``, ``runner``: Flask's test client and CLI runner for ``app``.
- ``scratch_database_url``: a brand-new empty PostgreSQL database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from dashboard import create_app
from dashboard.database import backoffice_schema, quoted_table_name, resolve_database_url
from dashboard.extensions import db
from dashboard.models.base import BO_SCHEMA

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def configured_test_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def engine_for(url: str, **kwargs: Any) -> sa.Engine:
    """A plain engine on ``url`` with the driver Backoffice uses (psycopg2)."""
    return sa.create_engine(resolve_database_url(url, "instance"), **kwargs)


def _postgresql_problem() -> str | None:
    """None if PostgreSQL answers, else why not."""
    engine = engine_for(configured_test_database_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means "not usable"
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


POSTGRESQL_PROBLEM: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global POSTGRESQL_PROBLEM
    config.addinivalue_line(
        "markers", "backends(*names): database backends to run the test on (default postgresql)"
    )
    POSTGRESQL_PROBLEM = _postgresql_problem()
    if POSTGRESQL_PROBLEM and IN_CI:
        pytest.exit(
            f"CI=true but PostgreSQL at {configured_test_database_url()} is unreachable: "
            f"{POSTGRESQL_PROBLEM}",
            returncode=1,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    url = make_url(configured_test_database_url()).render_as_string(hide_password=True)
    if POSTGRESQL_PROBLEM:
        return [
            f"PostgreSQL tests SKIPPED: {url} unreachable ({POSTGRESQL_PROBLEM}). Start "
            "PostgreSQL or set TEST_DATABASE_URL to run them (CI=true makes this a failure)."
        ]
    return [f"PostgreSQL tests run on {url}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else ("postgresql",)
        metafunc.parametrize("backend", names, scope="session")


def _require_postgresql() -> None:
    if POSTGRESQL_PROBLEM:
        pytest.skip(f"PostgreSQL unreachable ({POSTGRESQL_PROBLEM}); set TEST_DATABASE_URL")


def settings_for(database_url: str, **extra: Any) -> dict[str, Any]:
    return {"BACKOFFICE_ENV": "testing", "DATABASE_URL": database_url, **extra}


def build_schema(database_url: str) -> None:
    """Empty the database and build the schema with the migrations, as production does."""
    from flask_migrate import upgrade

    from dashboard.database import drop_everything

    app = create_app(settings_for(database_url))
    with app.app_context():
        drop_everything(db.engine)
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "postgresql":
        _require_postgresql()
        url = configured_test_database_url()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"
    build_schema(url)
    return url


@pytest.fixture(scope="session")
def session_app(database_url: str) -> Flask:
    return create_app(settings_for(database_url))


@contextmanager
def rolled_back(flask_app: Flask) -> Iterator[Flask]:
    """Run inside an app context whose every database call is part of one outer transaction,
    rolled back at the end (services' own commits act on savepoints)."""
    with flask_app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        try:
            yield flask_app
        finally:
            db.session.remove()
            engines[None] = engine
            outer.rollback()
            connection.close()


@pytest.fixture
def app(session_app: Flask) -> Iterator[Flask]:
    """The app with every database call of the test inside one rolled-back transaction."""
    with rolled_back(session_app) as flask_app:
        yield flask_app


def empty_all_tables(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    own = backoffice_schema(engine)
    if own is not None:
        metadata.reflect(bind=engine, schema=own)
    tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            quoted = ", ".join(
                f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
                for table in tables
            )
            # The audit trail refuses TRUNCATE by trigger; replica mode skips triggers.
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
            connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS bo_audit_log_no_delete")
            for table in reversed(metadata.sorted_tables):
                if table.name != "alembic_version":
                    connection.execute(table.delete())
            connection.exec_driver_sql(
                "CREATE TRIGGER bo_audit_log_no_delete BEFORE DELETE ON bo_audit_log BEGIN "
                "SELECT RAISE(ABORT, 'bo_audit_log is append-only: DELETE is not allowed'); END"
            )


@pytest.fixture
def committed_app(session_app: Flask) -> Iterator[Flask]:
    """The app over its real engine: commits are real, and the tables are emptied after."""
    with session_app.app_context():
        try:
            yield session_app
        finally:
            db.session.remove()
            empty_all_tables(db.engine)


@pytest.fixture
def client(app: Flask):  # noqa: ANN201
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for tests that build or drop whole schemas."""
    _require_postgresql()
    base = make_url(configured_test_database_url())
    name = f"{base.database}_scratch_{uuid.uuid4().hex[:10]}"
    admin = engine_for(configured_test_database_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bo_table_sql(name: str) -> str:
    """How raw SQL names one of Backoffice's own tables on the current app's database."""
    return quoted_table_name(db.metadata.tables[f"{BO_SCHEMA}.{name}"], db.engine)


def csrf_token(client: Any) -> str:
    """A valid CSRF token for ``client``'s session (what a rendered form would carry)."""
    import secrets

    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", secrets.token_hex(20))
    return URLSafeTimedSerializer(current_app.secret_key, salt="wtf-csrf-token").dumps(raw)


def sign_in_with_forms(
    client: Any, staff: Any, password: str | None = None, code: str | None = None
):  # noqa: ANN201
    """Sign ``client`` in through the real forms (password, then the TOTP code if one is
    given); returns the last response."""
    from tests.factories import STAFF_PASSWORD

    response = client.post(
        "/auth/sign-in",
        data={
            "email": staff.email,
            "password": password or STAFF_PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    if code is not None and response.status_code == 302:
        response = client.post(
            "/auth/second-factor", data={"code": code, "csrf_token": csrf_token(client)}
        )
    return response


@pytest.fixture
def sign_in(app: Flask):  # noqa: ANN201
    """``sign_in(client, staff, password=..., code=None)``: see ``sign_in_with_forms``."""
    return sign_in_with_forms


class FrozenClock:
    """``dashboard.core.clock.now`` under the test's control: ``advance(minutes=16)``."""

    def __init__(self, start: Any) -> None:
        self.current = start

    def __call__(self) -> Any:
        return self.current

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.current += timedelta(**delta)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    from dashboard.models import utcnow

    clock = FrozenClock(utcnow())
    monkeypatch.setattr("dashboard.core.clock.now", clock)
    return clock
