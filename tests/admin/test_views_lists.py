"""The lists of every model view: hostile parameters, statements per page, filters, search
by Stripe id and by the user's e-mail, related-record links, the user picker."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from dashboard.extensions import db
from dashboard.models import StaffRole, UserRole, utcnow
from dashboard.permissions import MODEL_GRANTS
from tests.admin.views_helpers import (
    ALL_LISTS,
    BIG_LISTS,
    counting_statements,
    filter_arg,
    row_ids,
    searchable,
    signed_in,
    text,
)
from tests.factories import (
    make_account,
    make_customer,
    make_payment,
    make_post,
    make_price,
    make_session,
    make_subscription,
    make_user,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")


@pytest.fixture
def data(app):
    """Two customers with one of everything each, and 25 more users with a payment."""
    price = make_price()
    people = {}
    for name in ("alice", "bob"):
        user = make_user(email=f"{name}@lists.test", name=name.title())
        people[name] = {
            "user": user,
            "payment": make_payment(user, stripe_payment_intent_id=f"pi_{name}"),
            "subscription": make_subscription(user, price, stripe_subscription_id=f"sub_{name}"),
            "customer": make_customer(user, stripe_customer_id=f"cus_{name}"),
            "account": make_account(user),
            "session": make_session(user),
            "post": make_post(user, title=f"{name.title()} writes"),
        }
    for n in range(25):
        make_payment(make_user(email=f"bulk{n:02d}@lists.test"), status="failed")
    db.session.commit()
    return people


HOSTILE = [
    {"search": '\'; DROP TABLE "User"; --'},
    {"search": "%"},
    {"search": "_%_\\"},
    {"search": "a\x00b"},
    {"search": "x" * 10_000},
    {"match": "regex"},
    {"sort": "99"},
    {"sort": "-1"},
    {"desc": "maybe"},
    {"page": "-1"},
    {"page": "99999999999"},
    {"page": "abc"},
    {"page_size": "100000"},
    {"after": "not-a-cursor"},
    {"after": "WyJ4Il0"},  # ["x"]: right shape for one key, wrong for two
    {"after": "W3t9LCAxXQ"},  # [{}, 1]
    {"flt0_0": "\x00"},
    {"flt0_0": "y" * 10_000},
    {"flt0_999": "x"},
    {"flt0_0": "NOT-A-VALUE"},
    {"flt0_1": "2024-13-45"},
    {"flt0_2": "'; --"},
]


@pytest.mark.parametrize("endpoint", ALL_LISTS)
def test_hostile_list_parameters_never_fail(app, data, endpoint):
    client = signed_in(app, "ADMIN")
    for query in HOSTILE:
        response = client.get(f"/admin/{endpoint}/", query_string=query)
        assert response.status_code in (200, 400), (endpoint, query, response.status_code)
        if response.status_code == 200 and "search" in query and searchable(app, endpoint):
            assert row_ids(text(response)) == [], (endpoint, query)


@pytest.mark.parametrize("endpoint", BIG_LISTS)
def test_statements_per_page_do_not_depend_on_the_page_size(app, data, endpoint):
    client = signed_in(app, "ADMIN")
    assert client.get(f"/admin/{endpoint}/").status_code == 200  # warm-up
    counts = []
    for size in (20, 100):
        with counting_statements() as statements:
            response = client.get(f"/admin/{endpoint}/", query_string={"page_size": size})
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 5, counts


def test_deep_pages_by_cursor_and_by_number_show_the_same_rows(app, data, monkeypatch):
    from dashboard.admin.views.payments import PaymentView

    monkeypatch.setattr(PaymentView, "deferred_join_after", 1)
    client = signed_in(app, "ADMIN")
    first = text(client.get("/admin/payments/?page_size=20"))
    older = re.search(r'id="list-older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    by_cursor = row_ids(text(client.get(older)))
    by_number = row_ids(text(client.get("/admin/payments/?page_size=20&page=1")))
    assert by_cursor == by_number and len(by_cursor) == 7  # 27 payments in all


def test_filters_narrow_the_lists(app, data):
    client = signed_in(app, "SUPPORT")
    failed = text(
        client.get(
            "/admin/payments/", query_string={filter_arg(app, "payments", "status"): "failed"}
        )
    )
    assert "pi_alice" not in failed and len(row_ids(failed)) == 25
    premium = make_user(email="vip@lists.test", role=UserRole.PREMIUM)
    db.session.commit()
    users = text(
        client.get("/admin/users/", query_string={filter_arg(app, "users", "role"): "PREMIUM"})
    )
    assert row_ids(users) == [premium.id]
    soon = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    subscriptions = text(
        client.get(
            "/admin/subscriptions/",
            query_string={filter_arg(app, "subscriptions", "current_period_end", "before"): soon},
        )
    )
    assert row_ids(subscriptions) == []  # the factory's periods end in 27 days


@pytest.mark.parametrize(
    ("endpoint", "term", "match", "expected"),
    [
        ("payments", "pi_bob", "prefix", "bob"),
        ("payments", "BOB@LISTS.TEST", "exact", "bob"),
        ("payments", "ali", "prefix", "alice"),
        ("payments", "lice@", "contains", "alice"),
        ("subscriptions", "sub_alice", "prefix", "alice"),
        ("subscriptions", "bob@", "prefix", "bob"),
        ("customers", "cus_bob", "exact", "bob"),
        ("sessions", "alice@lists", "prefix", "alice"),
        ("accounts", "bob@lists.test", "exact", "bob"),
        ("blog_posts", "alice wri", "prefix", "alice"),
        ("users", "bob@lists.test", "exact", "bob"),
        ("users", "Ali", "prefix", "alice"),
        ("users", "ob@lists", "contains", "bob"),
    ],
)
def test_search_by_stripe_id_title_or_the_users_email(app, data, endpoint, term, match, expected):
    client = signed_in(app, "ADMIN")
    page = text(client.get(f"/admin/{endpoint}/", query_string={"search": term, "match": match}))
    other = "bob" if expected == "alice" else "alice"
    ids = row_ids(page)
    assert len(ids) == 1, (endpoint, term, ids)
    assert f"{expected}@lists.test" in page or expected.title() in page
    assert f"{other}@lists.test" not in page


def test_users_search_by_exact_id(app, data):
    bob = data["bob"]["user"]
    page = text(signed_in(app, "EDITOR").get("/admin/users/", query_string={"search": bob.id}))
    assert row_ids(page) == [bob.id]


def test_a_users_details_link_to_their_records_and_only_theirs(app, data):
    alice = data["alice"]["user"]
    client = signed_in(app, "ADMIN")
    details = text(client.get(f"/admin/users/details/?id={alice.id}"))
    links = dict(re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', details))
    by_label = {label: url.replace("&amp;", "&") for url, label in links.items()}
    for label, endpoint in (
        ("Payments", "payments"),
        ("Subscriptions", "subscriptions"),
        ("Stripe customer", "customers"),
        ("Blog posts", "blog_posts"),
        ("Sessions (signed-in devices)", "sessions"),
        ("Sign-in accounts (OAuth)", "accounts"),
    ):
        page = text(client.get(by_label[label]))
        assert row_ids(page) == [data["alice"][_record_of(endpoint)].id], label


def _record_of(endpoint: str) -> str:
    return {
        "payments": "payment",
        "subscriptions": "subscription",
        "customers": "customer",
        "blog_posts": "post",
        "sessions": "session",
        "accounts": "account",
    }[endpoint]


def test_related_links_follow_the_role(app, data):
    alice = data["alice"]["user"]
    details = text(signed_in(app, "EDITOR").get(f"/admin/users/details/?id={alice.id}"))
    assert "Blog posts" in details and "Payments" not in details and "Sessions" not in details


def test_users_shown_in_other_lists_link_to_the_user(app, data):
    alice = data["alice"]["user"]
    client = signed_in(app, "ADMIN")
    for endpoint in (
        "payments",
        "subscriptions",
        "customers",
        "sessions",
        "accounts",
        "blog_posts",
    ):
        page = text(
            client.get(
                f"/admin/{endpoint}/", query_string={"search": "alice@lists.test", "match": "exact"}
            )
        )
        assert f'href="/admin/customer/{alice.id}">alice@lists.test</a>' in page, endpoint


def test_counts_say_about_or_more_than(app, data, monkeypatch):
    from dashboard.admin.views.payments import PaymentView

    monkeypatch.setattr(PaymentView, "count_cap", 10)
    page = text(
        signed_in(app, "ADMIN").get(
            "/admin/payments/", query_string={"search": "bulk", "match": "prefix"}
        )
    )
    assert "more than 10 records" in page


def test_the_user_picker_matches_prefixes_and_checks_the_target_model(app, data, monkeypatch):
    client = signed_in(app, "EDITOR")
    lookup = {"name": "user", "query": "ali", "limit": "100000"}
    response = client.get("/admin/blog_posts/ajax/lookup/", query_string=lookup)
    assert response.status_code == 200
    assert json.loads(text(response)) == [[data["alice"]["user"].id, "alice@lists.test (Alice)"]]
    many = client.get("/admin/blog_posts/ajax/lookup/", query_string={**lookup, "query": "bulk"})
    assert len(json.loads(text(many))) == 20  # capped, whatever the request asks
    for hostile in ("%", "a\x00", "x" * 500, ""):
        response = client.get(
            "/admin/blog_posts/ajax/lookup/", query_string={**lookup, "query": hostile}
        )
        assert response.status_code == 200 and json.loads(text(response)) == []
    monkeypatch.setitem(MODEL_GRANTS[StaffRole.EDITOR], "User", frozenset())
    response = client.get("/admin/blog_posts/ajax/lookup/", query_string=lookup)
    assert response.status_code == 403  # may edit posts, may not read users
    support = signed_in(app, "SUPPORT")  # may read users, may not edit posts
    assert support.get("/admin/blog_posts/ajax/lookup/", query_string=lookup).status_code == 403


def test_forms_never_render_pickers_for_reverse_relations(app, data):
    client = signed_in(app, "ADMIN")
    post_form = text(client.get("/admin/blog_posts/new/"))
    user_form = text(client.get(f"/admin/users/edit/?id={data['alice']['user'].id}"))
    for page in (post_form, user_form):
        assert len(re.findall(r"<select\b", page)) <= 1  # at most the role select
        for reverse in ("payments", "subscriptions", "sessions", "accounts", "blog_posts"):
            assert f'name="{reverse}"' not in page
    assert 'data-role="select2-ajax"' in post_form
    assert 'data-url="/admin/blog_posts/ajax/lookup/?name=user"' in post_form
