"""Request ids, request log lines (text and JSON) and error pages that never leak."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import sqlalchemy as sa
from flask import Flask, abort

from dashboard import create_app
from dashboard.extensions import db
from dashboard.observability import HANDLER_NAME
from tests.conftest import rolled_back, settings_for, sign_in_with_forms
from tests.factories import make_staff

PRODUCTION = {"BACKOFFICE_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite://"}
UNREACHABLE = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def public_test_routes(monkeypatch):
    """The routes these tests add are about logging and error pages, not access: let
    anonymous requests reach them past the sign-in guard."""
    from dashboard.auth import sessions

    extra = {"hello", "boom", "aborting", "sign_in", "bad_sql", "needs_db"}
    monkeypatch.setattr(sessions, "PUBLIC_ENDPOINTS", sessions.PUBLIC_ENDPOINTS | extra)


def log_stream(app: Flask) -> io.StringIO:
    """Point the application's log handler at a buffer the test can read."""
    (handler,) = [h for h in app.logger.handlers if h.name == HANDLER_NAME]
    stream = io.StringIO()
    handler.setStream(stream)
    return stream


def with_routes(app: Flask) -> Flask:
    @app.get("/hello")
    def hello():
        return "hello"

    @app.get("/boom")
    def boom():
        raise RuntimeError("the secret detail of a bug")

    @app.get("/abort/<int:code>")
    def aborting(code: int):
        abort(code)

    return app


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_log_is_one_line_per_request_with_its_id():
    app = with_routes(create_app({**PRODUCTION, "LOG_FORMAT": "json"}))
    stream = log_stream(app)
    response = app.test_client().get(
        "/hello?email=someone@example.com", headers={"X-Request-ID": "lb-7f3a9c21-0001"}
    )
    assert response.headers["X-Request-ID"] == "lb-7f3a9c21-0001"
    (line,) = json_lines(stream)
    assert line["request_id"] == "lb-7f3a9c21-0001"
    assert (line["level"], line["method"], line["path"], line["status"]) == (
        "INFO",
        "GET",
        "/hello",
        200,
    )
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["staff_id"] is None
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
    assert "someone@example.com" not in stream.getvalue()  # no query strings in logs


@pytest.mark.parametrize(
    "incoming",
    [
        None,
        "",
        "short",
        "has spaces in it",
        "x" * 129,
        "abcdefgh\tforged: line",
        "<script>alert(1)</script>",
        '"quoted"-id',
    ],
)
def test_an_insane_incoming_request_id_is_replaced(incoming):
    app = with_routes(create_app({**PRODUCTION, "LOG_FORMAT": "json"}))
    stream = log_stream(app)
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = app.test_client().get("/hello", headers=headers)
    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.match(request_id)
    assert json_lines(stream)[0]["request_id"] == request_id


@pytest.fixture
def logged_app(database_url):
    """A fresh app (so test routes can be added) over the test database, rolled back."""

    def build(**settings):
        return with_routes(create_app(settings_for(database_url, **settings)))

    return build


def test_text_log_names_the_request_and_the_signed_in_staff_member(logged_app):
    app = logged_app()
    with rolled_back(app):
        staff = make_staff("SUPPORT")
        db.session.commit()
        stream = log_stream(app)
        client = app.test_client()
        first = client.get("/hello")
        assert sign_in_with_forms(client, staff).status_code == 302
        last = client.get("/hello")
    lines = [line for line in stream.getvalue().splitlines() if "dashboard.request" in line]
    assert f"[{first.headers['X-Request-ID']}]" in lines[0] and "staff=" not in lines[0]
    assert f"[{last.headers['X-Request-ID']}]" in lines[-1]
    assert re.search(
        rf" INFO \[\w+\] dashboard.request: GET /hello 200 [\d.]+ms staff={staff.id}$", lines[-1]
    )


def test_json_log_has_the_staff_id_when_someone_is_signed_in(logged_app):
    app = logged_app(LOG_FORMAT="json")
    with rolled_back(app):
        staff = make_staff("EDITOR")
        db.session.commit()
        stream = log_stream(app)
        client = app.test_client()
        client.get("/hello")
        sign_in_with_forms(client, staff)
        client.get("/hello")
    lines = [line for line in json_lines(stream) if line.get("path") == "/hello"]
    assert [line["staff_id"] for line in lines] == [None, staff.id]


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/abort/400", 400, "Bad request"),
        ("/abort/403", 403, "Forbidden"),
        ("/no/such/page", 404, "Not found"),
        ("/abort/503", 503, "Service unavailable"),
        ("/boom", 500, "Something went wrong"),
    ],
)
def test_production_error_pages_show_the_request_id_and_nothing_else(path, status, title):
    app = with_routes(create_app({**PRODUCTION, "LOG_FORMAT": "json"}))
    stream = log_stream(app)
    response = app.test_client().get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert title in page and response.mimetype == "text/html"
    assert response.headers["X-Request-ID"] in page
    assert "Traceback" not in page and "secret detail" not in page and "File " not in page

    as_json = app.test_client().get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == status
    assert as_json.json["request_id"] == as_json.headers["X-Request-ID"]
    assert "secret detail" not in as_json.get_data(as_text=True)
    assert all(line["status"] == status for line in json_lines(stream) if "status" in line)


def test_an_unexpected_error_is_logged_with_traceback_and_request_id():
    app = with_routes(create_app({**PRODUCTION, "LOG_FORMAT": "json"}))
    stream = log_stream(app)
    response = app.test_client().get("/boom")
    request_id = response.headers["X-Request-ID"]
    error, access = json_lines(stream)
    assert error["level"] == "ERROR" and error["request_id"] == request_id
    assert "RuntimeError: the secret detail of a bug" in error["exception"]
    assert access["status"] == 500 and access["request_id"] == request_id


def test_method_not_allowed_keeps_the_allow_header():
    app = with_routes(create_app(PRODUCTION))
    response = app.test_client().post("/hello")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.headers["X-Request-ID"] in response.get_data(as_text=True)


def test_a_sql_error_page_shows_no_sql(database_url):
    app = create_app({**PRODUCTION, "DATABASE_URL": database_url})

    @app.get("/bad-sql")
    def bad_sql():
        db.session.execute(sa.text("SELECT no_such_column FROM \"User\" WHERE email = 'hunter2'"))
        return "unreachable"

    stream = log_stream(app)
    response = app.test_client().get("/bad-sql")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "SELECT" not in page and "hunter2" not in page and "no_such_column" not in page
    assert response.headers["X-Request-ID"] in page
    assert response.headers["X-Request-ID"] in stream.getvalue()  # logged with the id
    with app.app_context():
        db.engine.dispose()


def test_the_database_unavailable_page_shows_the_request_id():
    app = create_app(settings_for(UNREACHABLE, DB_CONNECT_TIMEOUT=1))

    @app.get("/needs-db")
    def needs_db():
        return str(db.session.execute(sa.text("SELECT 1")).scalar())

    stream = log_stream(app)
    response = app.test_client().get("/needs-db")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Database unavailable" in page
    request_id = response.headers["X-Request-ID"]
    assert request_id in page and "hunter2" not in page
    assert f"[{request_id}]" in stream.getvalue() and "database unavailable" in stream.getvalue()


def test_log_format_must_be_text_or_json(monkeypatch):
    from config import ConfigError

    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT must be text or json"):
        create_app(PRODUCTION)


def test_healthz_is_not_logged_at_info_when_healthy(caplog):
    app = create_app({**PRODUCTION, "LOG_FORMAT": "json"})
    stream = log_stream(app)
    with caplog.at_level(logging.INFO, logger="dashboard"):
        assert app.test_client().get("/healthz").status_code == 200
    assert stream.getvalue() == ""
