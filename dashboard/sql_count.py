"""SQL statements per request, in an ``X-SQL-Statements`` response header, for benchmarks
(``BENCH_SQL_COUNT=1``; off by default, and nothing is installed when off).

Counts every statement the request's own thread sends through the application's engine
(the home dashboard's figures run on worker threads and are not counted).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, has_request_context, request
from werkzeug.wrappers import Response

from dashboard.extensions import db

HEADER = "X-SQL-Statements"
KEY = "backoffice.sql_statements"  # kept in the WSGI environ: one count per request


def _count(*_args: Any) -> None:
    if has_request_context():
        request.environ[KEY] = request.environ.get(KEY, 0) + 1


def _add_header(response: Response) -> Response:
    response.headers[HEADER] = str(request.environ.get(KEY, 0))
    return response


def init_app(app: Flask) -> None:
    if not app.config.get("BENCH_SQL_COUNT"):
        return
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", _count)
    app.after_request(_add_header)
