"""Deny by default, proven by walking ``app.url_map``: anonymous visitors, every role on
every endpoint (GET and POST), CSRF on every POST, and no change by GET."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.auth import sessions
from dashboard.extensions import db
from dashboard.models import AuditLog, StaffAccount, StaffRole, User, VerificationToken, utcnow
from tests.admin.routes import PUBLIC_ENDPOINTS, admin_view, routes
from tests.conftest import csrf_token
from tests.factories import (
    make_account,
    make_customer,
    make_job,
    make_payment,
    make_post,
    make_price,
    make_session,
    make_staff,
    make_stripe_event,
    make_subscription,
    make_user,
)

ROLES = [role.value for role in StaffRole]
ALL = frozenset(ROLES)
ADMIN_ONLY = frozenset({"ADMIN"})
NOBODY = frozenset()
SUPPORTERS = frozenset({"ADMIN", "SUPPORT"})
EDITORS = frozenset({"ADMIN", "EDITOR"})

# The defaults of issue 3, written out by hand so that a wrong entry in the matrix or a
# view's declaration shows up here: (method, endpoint) -> roles allowed.
EXPECTED = {
    ("GET", "admin.index"): ALL,
    ("GET", "roles.index"): ALL,
    ("GET", "users.index_view"): ALL,
    ("GET", "users.details_view"): ALL,
    ("GET", "users.edit_view"): frozenset({"ADMIN", "SUPPORT"}),
    ("POST", "users.ajax_update"): frozenset({"ADMIN", "SUPPORT"}),
    ("GET", "users.export"): ADMIN_ONLY,
    ("GET", "users.create_view"): NOBODY,
    ("POST", "users.delete_view"): NOBODY,
    ("GET", "staff.index_view"): ADMIN_ONLY,
    ("GET", "staff.details_view"): ADMIN_ONLY,
    ("GET", "staff.invite"): ADMIN_ONLY,
    ("POST", "staff.change_role"): ADMIN_ONLY,
    ("POST", "staff.deactivate"): ADMIN_ONLY,
    ("POST", "staff.reset_password"): ADMIN_ONLY,
    ("POST", "staff.reset_totp"): ADMIN_ONLY,
    ("GET", "staff.edit_view"): NOBODY,
    ("GET", "audit.index_view"): frozenset({"ADMIN", "SUPPORT"}),
    ("GET", "audit.details_view"): frozenset({"ADMIN", "SUPPORT"}),
    ("GET", "audit.export"): ADMIN_ONLY,
    ("GET", "audit.create_view"): NOBODY,
    ("GET", "audit.edit_view"): NOBODY,
    ("POST", "audit.edit_view"): NOBODY,
    ("POST", "audit.delete_view"): NOBODY,
    ("POST", "audit.action_view"): frozenset({"ADMIN", "SUPPORT"}),
    ("GET", "auth.account"): ALL,
    # Issue 4: every model, bulk actions, publishing.
    ("GET", "users.bulk_view"): SUPPORTERS,
    ("POST", "users.bulk_apply"): SUPPORTERS,
    ("POST", "users.action_view"): ALL,
    ("GET", "blog_posts.index_view"): ALL,
    ("GET", "blog_posts.details_view"): ALL,
    ("GET", "blog_posts.preview"): ALL,
    ("GET", "blog_posts.create_view"): EDITORS,
    ("GET", "blog_posts.edit_view"): EDITORS,
    ("POST", "blog_posts.delete_view"): EDITORS,
    ("GET", "blog_posts.ajax_lookup"): EDITORS,
    ("POST", "blog_posts.publish"): EDITORS,
    ("POST", "blog_posts.unpublish"): EDITORS,
    ("GET", "blog_posts.bulk_view"): EDITORS,
    ("POST", "blog_posts.bulk_apply"): EDITORS,
    ("GET", "blog_posts.export"): ADMIN_ONLY,
    ("GET", "payments.index_view"): SUPPORTERS,
    ("GET", "payments.details_view"): SUPPORTERS,
    ("GET", "payments.export"): ADMIN_ONLY,
    ("GET", "payments.create_view"): NOBODY,
    ("GET", "payments.edit_view"): NOBODY,
    ("POST", "payments.delete_view"): NOBODY,
    ("GET", "subscriptions.index_view"): SUPPORTERS,
    ("GET", "subscriptions.export"): ADMIN_ONLY,
    ("GET", "subscriptions.edit_view"): NOBODY,
    ("GET", "customers.index_view"): SUPPORTERS,
    ("GET", "customers.edit_view"): NOBODY,
    ("GET", "products.index_view"): SUPPORTERS,
    ("GET", "products.create_view"): NOBODY,
    ("GET", "products.edit_view"): NOBODY,
    ("POST", "products.delete_view"): NOBODY,
    ("GET", "prices.index_view"): SUPPORTERS,
    ("GET", "prices.edit_view"): NOBODY,
    ("GET", "accounts.index_view"): SUPPORTERS,
    ("GET", "accounts.details_view"): SUPPORTERS,
    ("GET", "accounts.edit_view"): NOBODY,
    ("GET", "sessions.index_view"): SUPPORTERS,
    ("GET", "sessions.export"): ADMIN_ONLY,
    ("POST", "sessions.delete_view"): NOBODY,
    ("GET", "verification_tokens.index_view"): ADMIN_ONLY,
    ("GET", "verification_tokens.details_view"): NOBODY,
    # Issue 6: Stripe pages and jobs.
    ("GET", "resync.index"): ADMIN_ONLY,
    ("POST", "resync.index"): ADMIN_ONLY,
    ("GET", "resync.job"): ADMIN_ONLY,
    ("GET", "resync.job_status"): ADMIN_ONLY,
    ("GET", "webhook_events.index_view"): ADMIN_ONLY,
    ("GET", "webhook_events.details_view"): ADMIN_ONLY,
    ("POST", "webhook_events.replay"): ADMIN_ONLY,
    ("POST", "webhook_events.action_view"): ADMIN_ONLY,
    ("GET", "webhook_events.edit_view"): NOBODY,
    ("POST", "webhook_events.delete_view"): NOBODY,
    ("GET", "jobs.index_view"): EDITORS,
    ("GET", "jobs.details_view"): EDITORS,
    ("GET", "jobs.edit_view"): NOBODY,
    ("POST", "jobs.delete_view"): NOBODY,
    ("POST", "customer.stripe_sync"): SUPPORTERS,
}


@pytest.fixture
def records(app):
    """One row behind every details/edit URL, and a staff member to act on."""
    user = make_user(name="Some Customer")
    target = make_staff("EDITOR")
    db.session.add(AuditLog(actor_label="cli", action="test.seed", target_model="User"))
    price = make_price()
    make_subscription(user, price)
    make_payment(user)
    make_customer(user)
    make_account(user)
    make_session(user)
    make_post(user)
    make_job(kind="post_generation")  # the first row an EDITOR may see too
    make_stripe_event()
    db.session.add(
        VerificationToken(identifier="x@example.com", token="vt-secret", expires=utcnow())
    )
    db.session.commit()
    return {"user": user, "target": target}


@pytest.fixture
def clients(app, sign_in, records):
    signed_in = {}
    for role in ROLES:
        client = app.test_client()
        assert sign_in(client, make_staff(role)).status_code == 302
        signed_in[role] = client
    return signed_in


def request(app, client, route, records):
    """Send ``route`` with a real id and a valid CSRF token (access, not CSRF, is tested)."""
    query, data = {}, {}
    found = admin_view(app, route.endpoint)
    if found:
        view, _ = found
        if hasattr(view, "model"):
            row = db.session.scalar(sa.select(view.model).limit(1))
            query["id"] = view.get_pk_value(row)
        if view.endpoint == "staff":
            query["id"] = records["target"].id
        if route.endpoint.endswith(".delete_view"):
            query["id"] = "no-such-record"  # access is what counts; keep the rows for the walk
    if route.method == "POST":
        data = {"csrf_token": csrf_token(client), **query}
        if route.endpoint == "users.ajax_update":
            data = {"csrf_token": data["csrf_token"], "list_form_pk": records["user"].id}
            data["name"] = "Renamed"
    return client.open(route.path, method=route.method, query_string=query, data=data)


def expected_allowed(app, route, role: str) -> bool:
    found = admin_view(app, route.endpoint)
    if found is None:
        return True  # not an admin view: every signed-in staff member
    view, name = found
    return view.allowed(name, role)


def test_the_public_endpoints_are_exactly_these(app):
    assert sessions.PUBLIC_ENDPOINTS == PUBLIC_ENDPOINTS


def test_anonymous_visitors_are_sent_to_sign_in_everywhere(app, client):
    checked = 0
    for route in routes(app):
        response = client.open(route.path, method=route.method)
        assert response.status_code in (302, 403), route
        if response.status_code == 302:
            assert response.location.startswith("/auth/sign-in"), route
        checked += 1
    assert checked > 50


def test_the_public_endpoints_answer_anonymously(app, client):
    assert client.get("/auth/sign-in").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/static/admin/js/helpers.js").status_code == 200
    assert client.get("/static/js/admin.js").status_code == 200


def test_every_admin_endpoint_declares_what_it_needs(app):
    for route in routes(app):
        found = admin_view(app, route.endpoint)
        if found:
            view, name = found
            assert view.requirement_for(name) is not None, f"{route} declares nothing"


def test_every_role_gets_exactly_what_the_matrix_grants(app, clients, records):
    compared = 0
    for route in routes(app):
        if route.endpoint == "auth.sign_out":
            continue  # would end the session the walk needs; tested on its own
        for role, client in clients.items():
            response = request(app, client, route, records)
            assert response.status_code < 500, f"{role} {route}"
            denied = response.status_code == 403 or (
                response.status_code == 302 and response.location.startswith("/auth/sign-in")
            )
            assert denied != expected_allowed(app, route, role), (
                f"{role} {route}: {response.status_code} {response.location}"
            )
            compared += 1
    assert compared > 150


@pytest.mark.parametrize(("method", "endpoint"), sorted(EXPECTED))
def test_issue_defaults(app, clients, records, method, endpoint):
    route = next(r for r in routes(app) if r.endpoint == endpoint and r.method == method)
    for role, client in clients.items():
        response = request(app, client, route, records)
        allowed = role in EXPECTED[(method, endpoint)]
        assert (response.status_code != 403) == allowed, f"{role} {route}"


# The one POST without a CSRF token: Stripe's webhook, authenticated by its signature.
CSRF_EXEMPT = frozenset({"stripe_webhooks.receive"})


def test_every_post_without_a_csrf_token_is_rejected(app, clients, records, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRETS", ["whsec_configured"])
    admin = clients["ADMIN"]
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    posts = [route for route in routes(app, include_public=True) if route.method == "POST"]
    exempt = [route for route in posts if route.endpoint in CSRF_EXEMPT]
    assert [route.endpoint for route in exempt] == sorted(CSRF_EXEMPT)
    assert len(posts) > 15
    for route in exempt:
        # Authenticated by Stripe's signature instead: without one it is refused too.
        response = admin.post(route.path, data={"id": records["target"].id})
        assert response.status_code == 400, route
    for route in (route for route in posts if route.endpoint not in CSRF_EXEMPT):
        response = admin.post(route.path, data={"id": records["target"].id, "name": "x"})
        assert response.status_code == 400, route
        assert "This form has expired" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before
    assert admin.get("/admin/").status_code == 200  # still signed in: nothing happened


def _state() -> tuple:
    db.session.expire_all()
    users = db.session.execute(sa.select(User.id, User.name, User.email, User.role)).all()
    staff = db.session.execute(
        sa.select(StaffAccount.id, StaffAccount.role, StaffAccount.is_active)
    ).all()
    changes = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditLog)
        .where(AuditLog.action.not_in(["model.export"]))
    )
    return sorted(users), sorted(staff), changes


def test_no_get_changes_anything(app, clients, records):
    admin = clients["ADMIN"]
    before = _state()
    for route in routes(app):
        if route.method == "GET":
            assert request(app, admin, route, records).status_code < 500, route
    assert _state() == before
