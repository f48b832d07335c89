"""Exports of the real views: the list's search and filters, related columns without a
query per row, spreadsheet formulas escaped, audited; only ADMIN may export."""

from __future__ import annotations

import csv
import io

import pytest

from dashboard.extensions import db
from tests.admin.views_helpers import audit, counting_statements, filter_arg, signed_in
from tests.factories import make_payment, make_post, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def payments(app):
    evil = make_user(email="=cmd@evil.test", name="@SUM(A1)")
    make_payment(evil, stripe_payment_intent_id="pi_evil", status="failed", amount=-5)
    for n in range(6):
        make_payment(make_user(email=f"fine{n}@pay.test"), stripe_payment_intent_id=f"pi_{n}")
    db.session.commit()
    return evil


def test_payments_export_follows_the_filter_and_escapes_formulas(app, payments):
    client = signed_in(app, "ADMIN")
    status = filter_arg(app, "payments", "status")
    response = client.get("/admin/payments/export/csv/", query_string={status: "failed"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = rows(response)
    assert table[0] == [
        "id",
        "stripe_payment_intent_id",
        "user_id",
        "user.email",
        "amount",
        "currency",
        "status",
        "created_at",
    ]
    assert len(table) == 2
    assert table[1][1:5] == ["pi_evil", payments.id, "'=cmd@evil.test", "'-5"]
    [row] = audit("model.export")
    assert row.target_model == "PaymentHistory" and row.details["rows"] == 1
    assert row.details["filters"] == [["Status", "failed"]]


def test_export_of_related_columns_costs_the_same_for_any_number_of_rows(app, payments):
    client = signed_in(app, "ADMIN")
    client.get("/admin/payments/export/csv/").get_data()
    counts = []
    for search in ("pi_0", ""):
        with counting_statements() as statements:
            response = client.get("/admin/payments/export/csv/", query_string={"search": search})
            table = rows(response)
        counts.append((len(table), len(statements)))
    assert counts[0][0] == 2 and counts[1][0] == 8
    assert counts[0][1] == counts[1][1]


def test_users_export_respects_the_search_mode(app, payments):
    client = signed_in(app, "ADMIN")
    prefix = rows(client.get("/admin/users/export/csv/", query_string={"search": "fine1"}))
    assert [r[1] for r in prefix[1:]] == ["fine1@pay.test"]
    contains = rows(
        client.get(
            "/admin/users/export/csv/", query_string={"search": "@pay.te", "match": "contains"}
        )
    )
    assert len(contains) == 7
    names = {r[1]: r[2] for r in contains[1:]}
    assert all(name.startswith("User") for name in names.values())
    evil = rows(client.get("/admin/users/export/csv/", query_string={"search": "=cmd@"}))
    assert evil[1][1:3] == ["'=cmd@evil.test", "'@SUM(A1)"]


def test_posts_export_has_no_text_columns_and_only_admin_exports(app):
    make_post(make_user(), title="+danger", content="secret draft body")
    db.session.commit()
    table = rows(signed_in(app, "ADMIN").get("/admin/blog_posts/export/csv/"))
    assert table[1][1] == "'+danger" and "secret draft body" not in str(table)
    for role in ("SUPPORT", "EDITOR"):
        client = signed_in(app, role)
        for endpoint in ("users", "payments", "subscriptions", "blog_posts", "sessions"):
            assert client.get(f"/admin/{endpoint}/export/csv/").status_code == 403
