"""Helpers shared by the model-view tests of issue 4: signed-in clients, CSRF posts, filter
arguments by column, and a statement counter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask

from dashboard.extensions import db
from dashboard.models import AuditLog
from tests.conftest import csrf_token, sign_in_with_forms
from tests.factories import make_staff

BIG_LISTS = ("users", "payments", "subscriptions", "blog_posts", "sessions", "accounts", "audit")
ALL_LISTS = (
    *BIG_LISTS,
    "customers",
    "products",
    "prices",
    "verification_tokens",
    "staff",
)


def signed_in(app: Flask, role: str, **staff: Any) -> Any:
    client = app.test_client()
    member = make_staff(role, **staff)
    assert sign_in_with_forms(client, member).status_code == 302
    client.staff = member
    return client


def post(client: Any, path: str, data: dict[str, Any] | None = None, **query: Any) -> Any:
    body = {**(data or {}), "csrf_token": csrf_token(client)}
    return client.post(path, query_string=query or None, data=body)


def view(app: Flask, endpoint: str) -> Any:
    return next(v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint)  # noqa: SLF001


def filter_arg(app: Flask, endpoint: str, column: str, operation: str = "equals") -> str:
    """The query-string name of the ``operation`` filter on ``column`` of a list."""
    found = view(app, endpoint)
    for index, flt in enumerate(found._filters):  # noqa: SLF001
        if getattr(flt.column, "key", None) == column and str(flt.operation()) == operation:
            return f"flt0_{found.get_filter_arg(index, flt)}"
    raise AssertionError(f"{endpoint}: no {operation} filter on {column}")


def audit(action: str) -> list[AuditLog]:
    return list(
        db.session.scalars(
            sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        )
    )


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def row_ids(html: str) -> list[str]:
    """The ids of the rows of a scalable list page, in order."""
    return re.findall(r'<td class="col-[^"]+" data-row="([^"]+)"', html)


def searchable(app: Flask, endpoint: str) -> bool:
    return bool(getattr(view(app, endpoint), "search_columns", ()))


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Collect the SQL statements sent while the block runs."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engines[None]
    target = engine.engine if isinstance(engine, sa.Connection) else engine
    sa.event.listen(target, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(target, "before_cursor_execute", record)
