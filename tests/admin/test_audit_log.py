"""The audit trail: read-only everywhere, filterable, and append-only in the database."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog
from tests.conftest import bo_table_sql, csrf_token, sign_in_with_forms
from tests.factories import make_staff

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def add_row(**values) -> AuditLog:
    row = AuditLog(**{"actor_label": "cli", "action": "test.thing", **values})
    db.session.add(row)
    db.session.flush()
    return row


def signed_in(app, role: str):
    client = app.test_client()
    sign_in_with_forms(client, make_staff(role))
    return client


def filter_arg(app, column: str, operation: str) -> str:
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "audit")  # noqa: SLF001
    for index, flt in enumerate(view._filters):  # noqa: SLF001
        if flt.column.key == column and flt.operation() == operation:
            return f"flt0_{view.get_filter_arg(index, flt)}"
    raise AssertionError(f"no {operation} filter on {column}")


@pytest.fixture
def rows(app):
    return {
        "old": add_row(
            actor_label="staff:ann@example.com",
            action="user.ban",
            target_model="User",
            created_at=datetime(2026, 1, 5, 12, 0),
        ),
        "mid": add_row(
            actor_label="stripe-webhook",
            action="subscription.sync",
            target_model="UserSubscription",
            created_at=datetime(2026, 2, 10, 12, 0),
        ),
        "new": add_row(
            actor_label="staff:bob@example.com",
            action="user.ban",
            target_model="User",
            created_at=datetime(2026, 3, 15, 12, 0),
        ),
    }


@pytest.mark.parametrize(
    ("column", "operation", "value", "expected"),
    [
        ("actor_label", "contains", "ann@", {"old"}),
        ("action", "equals", "user.ban", {"old", "new"}),
        ("target_model", "equals", "UserSubscription", {"mid"}),
        ("created_at", "between", "2026-02-01 00:00:00 to 2026-03-31 23:59:59", {"mid", "new"}),
    ],
)
def test_filters(app, rows, column, operation, value, expected):
    client = signed_in(app, "SUPPORT")
    page = client.get(
        "/admin/audit/", query_string={filter_arg(app, column, operation): value}
    ).get_data(as_text=True)
    shown = {name for name, row in rows.items() if row.created_at.strftime("%Y-%m-%d") in page}
    assert shown == expected


def test_details_show_changes_escaped(app):
    row = add_row(changes={"name": {"before": "<script>x</script>", "after": "ok"}})
    page = signed_in(app, "ADMIN").get(f"/admin/audit/details/?id={row.id}").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page


def test_no_one_can_create_edit_or_delete_audit_rows_through_the_view(app):
    row = add_row()
    client = signed_in(app, "ADMIN")
    token = csrf_token(client)
    assert client.get("/admin/audit/new/").status_code == 403
    assert client.get(f"/admin/audit/edit/?id={row.id}").status_code == 403
    response = client.post(
        f"/admin/audit/edit/?id={row.id}", data={"action": "forged", "csrf_token": token}
    )
    assert response.status_code == 403
    response = client.post("/admin/audit/delete/", data={"id": row.id, "csrf_token": token})
    assert response.status_code == 403
    response = client.post(
        "/admin/audit/action/", data={"action": "delete", "rowid": row.id, "csrf_token": token}
    )
    assert response.status_code == 403
    db.session.refresh(row)
    assert row.action == "test.thing"
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "Delete" not in page and 'href="/admin/audit/new/' not in page


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET action = 'rewritten'", "DELETE FROM {table}"],
)
def test_the_database_refuses_to_change_or_remove_audit_rows(app, statement):
    row = add_row()
    db.session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with db.session.begin_nested():
            db.session.execute(sa.text(statement.format(table=bo_table_sql("bo_audit_log"))))
    db.session.expire_all()
    assert db.session.get(AuditLog, row.id).action == "test.thing"


@pytest.mark.backends("postgresql")
def test_postgresql_refuses_truncate(app):
    add_row()
    with pytest.raises(sa.exc.DatabaseError, match="append-only: TRUNCATE"):
        with db.session.begin_nested():
            db.session.execute(sa.text(f"TRUNCATE {bo_table_sql('bo_audit_log')}"))
