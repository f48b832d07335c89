"""Configuration, start-up errors and the health check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import ConfigError, get_config
from dashboard import create_app
from dashboard.database import resolve_database_url
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"


def run_flask(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("DATABASE")
    }
    environment.update({"FLASK_APP": "wsgi", "BACKOFFICE_ENV": "development", **env})
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"BACKOFFICE_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"BACKOFFICE_ENV": "production", "SECRET_KEY": "short"})
    app = create_app(
        {"BACKOFFICE_ENV": "production", "SECRET_KEY": "x" * 40, "DATABASE_URL": "sqlite://"}
    )
    assert app.config["SECRET_KEY"] == "x" * 40 and not app.debug


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", "17")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1234")
    config = get_config("development")
    assert config.DB_POOL_SIZE == 17 and config.DB_STATEMENT_TIMEOUT_MS == 1234
    monkeypatch.setenv("DB_POOL_SIZE", "many")
    with pytest.raises(ConfigError, match="DB_POOL_SIZE must be a whole number"):
        get_config("development")


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="BACKOFFICE_ENV must be one of"):
        get_config("staging")


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    url = resolve_database_url(None, str(tmp_path / "instance"))
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "instance" / "backoffice.sqlite3")


def test_prisma_style_urls_are_accepted():
    url = resolve_database_url(
        "postgres://u:p@db.example:5432/app?schema=public&connection_limit=5&sslmode=require",
        "instance",
    )
    assert url.drivername == "postgresql+psycopg2"
    assert dict(url.query) == {"sslmode": "require"}
    other = resolve_database_url("postgresql://u@h/app?schema=tenant1", "instance")
    assert other.query["options"] == "-c search_path=tenant1"


@pytest.mark.parametrize("raw", ["not a url", "mysql://u@h/db", "://"])
def test_a_wrong_database_url_is_one_clear_error(raw):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        resolve_database_url(raw, "instance")


def test_postgresql_engine_gets_pool_and_timeout_settings():
    app = create_app(settings_for(UNREACHABLE, DB_POOL_SIZE=3, DB_STATEMENT_TIMEOUT_MS=2500))
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True and options["pool_size"] == 3
    assert "statement_timeout=2500" in options["connect_args"]["options"]


def test_unreachable_database_is_one_line_on_the_command_line():
    result = run_flask("seed-demo", DATABASE_URL=UNREACHABLE)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (
        "cannot reach the database at postgresql+psycopg2://postgres:***@127.0.0.1:1/nowhere"
        in result.stderr
    )
    assert "hunter2" not in result.stderr + result.stdout
    upgrade = run_flask("db", "upgrade", DATABASE_URL=UNREACHABLE)
    assert upgrade.returncode != 0
    assert "Traceback" not in upgrade.stderr
    assert "cannot use the database at" in upgrade.stderr
    assert len(upgrade.stderr.strip().splitlines()) <= 3


def test_a_malformed_database_url_is_one_line_on_the_command_line():
    result = run_flask("seed-demo", DATABASE_URL="mysql://u@h/db")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL uses 'mysql'" in result.stderr


@pytest.mark.backends("postgresql", "sqlite")
def test_healthz_answers_200_with_a_database_round_trip(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_is_down():
    app = create_app(settings_for(UNREACHABLE, DB_CONNECT_TIMEOUT=1))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    assert "hunter2" not in response.get_data(as_text=True)


def test_pages_say_database_unavailable_instead_of_a_traceback():
    app = create_app(settings_for(UNREACHABLE, DB_CONNECT_TIMEOUT=1))

    @app.get("/needs-db")
    def needs_db():
        from dashboard.extensions import db

        return str(db.session.execute(sa.text("SELECT 1")).scalar())

    client = app.test_client()
    with client.session_transaction() as session:
        # A signed-in browser: the sign-in guard itself needs the database first.
        session["_user_id"] = "some-staff-id:1"
    response = client.get("/needs-db")
    assert response.status_code == 503
    assert b"Database unavailable" in response.data
