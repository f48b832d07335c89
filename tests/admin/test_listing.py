"""Scalable lists: counts, keyset pages, deferred joins, search modes and hostile input.

The mixin is exercised through a bare Flask-Admin on its own app, so these tests are about
the list mechanics alone (access control is tested with the real views)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme

from dashboard import create_app
from dashboard.admin.listing import ScalableListMixin, SearchColumn
from dashboard.extensions import db
from dashboard.models import PaymentHistory, User, utcnow
from tests.conftest import rolled_back, settings_for, sign_in_with_forms
from tests.factories import make_payment, make_staff, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def _user_email(model):
    return sa.select(User.email).where(User.id == model.user_id).scalar_subquery()


class UserList(ScalableListMixin, ModelView):
    column_list = ("email", "name", "role", "created_at")
    column_sortable_list = ("email", "created_at")
    column_filters = ("role",)
    search_columns = (SearchColumn("id", "exact"), SearchColumn("email"), SearchColumn("name"))
    page_size = 5
    page_size_options = (5, 20)


class PaymentList(ScalableListMixin, ModelView):
    column_list = ("stripe_payment_intent_id", "user.email", "amount", "created_at")
    search_columns = (
        SearchColumn("stripe_payment_intent_id", "exact"),
        SearchColumn("user_email", "text", _user_email),
    )
    page_size = 5
    page_size_options = (5, 20)

    def get_query(self):
        return super().get_query().options(sa.orm.joinedload(PaymentHistory.user))


@pytest.fixture(scope="session")
def listing_app(database_url):
    flask_app = create_app(settings_for(database_url))
    admin = Admin(flask_app, name="t", url="/t", endpoint="t_admin", theme=Bootstrap4Theme())
    admin.add_view(UserList(User, db, endpoint="t_users"))
    admin.add_view(PaymentList(PaymentHistory, db, endpoint="t_payments"))
    return flask_app


@pytest.fixture
def web(listing_app):
    with rolled_back(listing_app) as flask_app:
        client = flask_app.test_client()
        # The sign-in guard covers every endpoint; any staff member may use these bare views.
        staff_user = make_user(email="staff@staff.invalid", created_at=datetime(2000, 1, 1))
        assert sign_in_with_forms(client, make_staff("ADMIN", user=staff_user)).status_code == 302
        yield client


def emails(html: str) -> list[str]:
    """The e-mail cells of the list, in order."""
    return re.findall(r'<td class="col-(?:email|user\.email)"[^>]*>\s*([\w.]+@list\.test)', html)


def seed_users(count: int) -> list[User]:
    now = utcnow()
    users = [
        make_user(
            email=f"u{n:03d}@list.test", name=f"Name {n:03d}", created_at=now - timedelta(minutes=n)
        )
        for n in range(count)
    ]
    db.session.commit()
    return users


def test_first_page_is_newest_first_with_exact_small_count(web):
    seed_users(12)
    html = web.get("/t/t_users/").get_data(as_text=True)
    assert emails(html) == [f"u{n:03d}@list.test" for n in range(5)]
    assert "13 records" in html  # 12 and the signed-in staff member's own user


def test_keyset_cursor_walks_every_row_once(web):
    seed_users(12)
    seen: list[str] = []
    url = "/t/t_users/"
    for _ in range(5):
        html = web.get(url).get_data(as_text=True)
        seen += emails(html)
        match = re.search(r'id="list-older" href="([^"]+)"', html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert seen == [f"u{n:03d}@list.test" for n in range(12)]


def test_deep_page_numbers_use_the_deferred_join(web, monkeypatch):
    seed_users(12)
    monkeypatch.setattr(UserList, "deferred_join_after", 1)
    html = web.get("/t/t_users/?page=2").get_data(as_text=True)
    assert emails(html) == [f"u{n:03d}@list.test" for n in range(10, 12)]


def test_filtered_count_is_capped(web, monkeypatch):
    seed_users(12)
    monkeypatch.setattr(UserList, "count_cap", 10)
    html = web.get("/t/t_users/?search=u0").get_data(as_text=True)
    assert "more than 10" in html


@pytest.mark.parametrize(
    "match, term, expected",
    [
        ("prefix", "u00", [f"u00{n}@list.test" for n in range(5)]),
        ("prefix", "NAME 011", ["u011@list.test"]),
        ("exact", "u003@list.test", ["u003@list.test"]),
        ("exact", "u003", []),
        ("contains", "011@", ["u011@list.test"]),
        ("contains", "%", []),
        ("prefix", "_", []),
        ("prefix", '\'; drop table "User"; --', []),
    ],
)
def test_search_modes(web, match, term, expected):
    seed_users(12)
    response = web.get("/t/t_users/", query_string={"search": term, "match": match})
    assert response.status_code == 200
    assert emails(response.get_data(as_text=True)) == expected


def test_search_by_id_is_exact(web):
    users = seed_users(3)
    html = web.get("/t/t_users/", query_string={"search": users[1].id}).get_data(as_text=True)
    assert emails(html) == ["u001@list.test"]


def test_payments_search_by_stripe_id_and_user_email(web):
    alice, bob = make_user(email="alice@list.test"), make_user(email="bob@list.test")
    make_payment(alice, stripe_payment_intent_id="pi_alice_1")
    make_payment(bob, stripe_payment_intent_id="pi_bob_1")
    db.session.commit()
    by_id = web.get("/t/t_payments/?search=pi_bob_1").get_data(as_text=True)
    assert "pi_bob_1" in by_id and "pi_alice_1" not in by_id
    by_email = web.get("/t/t_payments/?search=ALICE@").get_data(as_text=True)
    assert "pi_alice_1" in by_email and "pi_bob_1" not in by_email


@pytest.mark.parametrize(
    "query",
    [
        {"search": "a\x00b"},
        {"search": "x" * 10_000},
        {"after": "not-a-cursor"},
        {"after": "W10"},  # decodes to [] -- wrong length
        {"page": str(10**12)},
        {"page": "-3"},
        {"match": "regex"},
    ],
)
def test_hostile_list_parameters_are_4xx(web, query):
    seed_users(2)
    assert web.get("/t/t_users/", query_string=query).status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "99"},
        {"sort": "abc"},
        {"page": "abc"},
        {"flt0_99": "x"},
        {"page_size": "100000"},
        {"desc": "zz"},
    ],
)
def test_unknown_parameters_fall_back_to_the_default_list(web, query):
    seed_users(2)
    response = web.get("/t/t_users/", query_string=query)
    assert response.status_code == 200
    assert len(emails(response.get_data(as_text=True))) == 2


def test_statements_per_page_do_not_grow_with_page_size(web):
    for n in range(30):
        user = make_user(email=f"p{n}@list.test")
        make_payment(user)
    db.session.commit()
    assert web.get("/t/t_payments/").status_code == 200  # warm-up: first-request work aside
    counts = []
    for size in (5, 20):
        statements: list[str] = []

        def record(conn, cursor, statement, *args, _seen=statements):
            _seen.append(statement)

        engine = db.engines[None]
        target = engine.engine if isinstance(engine, sa.Connection) else engine
        sa.event.listen(target, "before_cursor_execute", record)
        try:
            assert web.get(f"/t/t_payments/?page_size={size}").status_code == 200
        finally:
            sa.event.remove(target, "before_cursor_execute", record)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] <= 5  # staff + count + page (+ session checks)
