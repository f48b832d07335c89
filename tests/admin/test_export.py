"""CSV export: filters respected, formulas neutralised, row cap, audited."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme

from dashboard import create_app
from dashboard.admin.export import CsvExportMixin, escape_cell
from dashboard.admin.listing import ScalableListMixin, SearchColumn
from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog, PaymentHistory, User, UserRole
from tests.conftest import rolled_back, settings_for, sign_in_with_forms
from tests.factories import make_payment, make_staff, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


class ExportUsers(CsvExportMixin, ScalableListMixin, ModelView):
    can_export = True
    column_list = column_export_list = ("email", "name", "role")
    column_filters = ("role",)
    search_columns = (SearchColumn("email"),)

    def current_actor(self):
        return Actor(label="staff:tester@example.com", staff_id="s1")


class ExportPayments(CsvExportMixin, ScalableListMixin, ModelView):
    can_export = True
    column_list = column_export_list = ("stripe_payment_intent_id", "user.email", "amount")

    def current_actor(self):
        return Actor(label="staff:tester@example.com", staff_id="s1")


class NoExport(ScalableListMixin, CsvExportMixin, ModelView):
    can_export = False


@pytest.fixture(scope="session")
def export_app(database_url):
    flask_app = create_app(settings_for(database_url, EXPORT_MAX_ROWS=3))
    admin = Admin(flask_app, name="x", url="/x", endpoint="x_admin", theme=Bootstrap4Theme())
    admin.add_view(ExportUsers(User, db, endpoint="x_users"))
    admin.add_view(ExportPayments(PaymentHistory, db, endpoint="x_payments"))
    admin.add_view(NoExport(User, db, endpoint="x_noexport"))
    return flask_app


@pytest.fixture
def web(export_app):
    with rolled_back(export_app) as flask_app:
        client = flask_app.test_client()
        # The sign-in guard covers every endpoint; any staff member may use these bare views.
        staff_user = make_user(email="staff@staff.invalid", created_at=datetime(2000, 1, 1))
        assert sign_in_with_forms(client, make_staff("ADMIN", user=staff_user)).status_code == 302
        yield client


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize(
    "raw, cell",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
        (UserRole.ADMIN, "ADMIN"),
        (42, "42"),
    ],
)
def test_cells_that_would_be_formulas_are_escaped(raw, cell):
    assert escape_cell(raw) == cell


def test_export_respects_search_and_filters_and_escapes(web):
    make_user(email="a@x.test", name="=cmd|' /C calc'!A0", role=UserRole.ADMIN)
    make_user(email="b@x.test", name="Bob", role=UserRole.USER)
    make_user(email="c@y.test", name="Carol", role=UserRole.ADMIN)
    db.session.commit()
    response = web.get("/x/x_users/export/csv/?search=a@x")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = read_csv(response)
    assert rows == [["email", "name", "role"], ["a@x.test", "'=cmd|' /C calc'!A0", "ADMIN"]]
    filtered = read_csv(web.get("/x/x_users/export/csv/?flt0_0=ADMIN"))
    assert sorted(r[0] for r in filtered[1:] if r[0].endswith(".test")) == ["a@x.test", "c@y.test"]


def test_export_stops_at_the_row_limit(web):
    for n in range(5):
        make_user(email=f"u{n}@cap.test")
    db.session.commit()
    rows = read_csv(web.get("/x/x_users/export/csv/"))
    assert len(rows) == 1 + 3


def test_export_is_audited_with_its_filters(web):
    make_user(email="a@x.test")
    db.session.commit()
    web.get("/x/x_users/export/csv/?search=a@").get_data()
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "model.export")).one()
    assert entry.target_model == "User" and entry.actor_label == "staff:tester@example.com"
    assert entry.details["search"] == "a@"


def test_related_columns_export_without_a_query_per_row(web):
    user = make_user(email="payer@x.test")
    make_payment(user, stripe_payment_intent_id="pi_1", amount=500)
    db.session.commit()
    rows = read_csv(web.get("/x/x_payments/export/csv/"))
    assert rows[1] == ["pi_1", "payer@x.test", "500"]


def test_views_without_export_permission_refuse(web):
    assert web.get("/x/x_noexport/export/csv/").status_code == 404
