"""Fixtures for backup tests: a seeded source database and an empty target, on PostgreSQL
(scratch databases on the test server) and on SQLite (files in the test's folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from dashboard import create_app
from dashboard.extensions import db
from dashboard.ops import postgres
from tests.conftest import build_schema, configured_test_database_url, settings_for

DEMO_USERS = 300


@pytest.fixture(params=["postgresql", "sqlite"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the latest revision, to be seeded by the test."""
    if request.param == "postgresql":
        url = request.getfixturevalue("scratch_database_url")
    else:
        url = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    build_schema(url)
    return url


@pytest.fixture
def source_app(source_url: str) -> Iterator[Flask]:
    """The application on ``source_url`` (its DATABASE_URL: the live database), seeded."""
    app = create_app(settings_for(source_url))
    result = app.test_cli_runner().invoke(
        args=["seed-demo", "--users", str(DEMO_USERS), "--seed", "5", "--as-of", "2026-06-01"]
    )
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def target_url(source_url: str, tmp_path: Path) -> Iterator[str]:
    """A database that does not hold anything yet, on the source's backend."""
    if source_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'target.sqlite3'}"
        return
    server = make_url(configured_test_database_url())
    target = postgres.create_scratch_database(server, "target")
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        postgres.drop_database(target, server)


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"
