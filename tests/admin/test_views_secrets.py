"""No secret (OAuth tokens, session tokens, verification tokens) in any page or export of any
view, for any role; searching for one finds nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import StaffRole, VerificationToken, utcnow
from tests.admin.routes import routes
from tests.admin.views_helpers import ALL_LISTS, BIG_LISTS, row_ids, signed_in, text, view
from tests.factories import make_account, make_post, make_session, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SECRETS = (
    "ya29.SECRET-access-7f3a9c",
    "1//SECRET-refresh-4b2e8d",
    "eyJSECRET-id-token-9d1c",
    "SECRET-session-token-5e6f",
    "SECRET-verification-token-8a7b",
    "SECRET-oauth-state-3c4d",
)


@pytest.fixture
def seeded(app):
    user = make_user(email="holder@example.com", name="Holder")
    make_account(
        user,
        access_token=SECRETS[0],
        refresh_token=SECRETS[1],
        id_token=SECRETS[2],
        session_state=SECRETS[5],
    )
    make_session(user, session_token=SECRETS[3])
    make_post(user, title="A post")
    db.session.add(
        VerificationToken(identifier="holder@example.com", token=SECRETS[4], expires=utcnow())
    )
    db.session.commit()
    return user


def assert_no_secret(body: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in body, f"{where} shows {secret}"


def pages_of(app, client):
    """Every GET page of every admin view, with a real record id where one is needed."""
    for route in routes(app):
        if route.method != "GET" or not route.path.startswith("/admin/"):
            continue
        query = {}
        endpoint, _, name = route.endpoint.partition(".")
        found = next(
            (v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint),  # noqa: SLF001
            None,
        )
        if found is not None and hasattr(found, "model"):
            row = db.session.scalar(sa.select(found.model).limit(1))
            if row is not None and name in ("details_view", "edit_view", "preview"):
                query["id"] = found.get_pk_value(row)
            if name == "bulk_view" and found.bulk_actions:
                query["bulk"] = found.bulk_actions[0].name
        yield route, client.get(route.path, query_string=query)


@pytest.mark.parametrize("role", [role.value for role in StaffRole])
def test_no_page_or_export_shows_a_secret(app, seeded, role):
    client = signed_in(app, role)
    shown = 0
    for route, response in pages_of(app, client):
        assert response.status_code < 500, route
        assert_no_secret(text(response), str(route))
        shown += response.status_code == 200
    assert shown >= {"ADMIN": 30, "SUPPORT": 18, "EDITOR": 8}[role]


@pytest.mark.parametrize("endpoint", [e for e in ALL_LISTS if e in BIG_LISTS or e == "customers"])
@pytest.mark.parametrize("match", ["exact", "prefix", "contains"])
def test_searching_for_a_secret_finds_nothing(app, seeded, endpoint, match):
    client = signed_in(app, "ADMIN")
    everything = row_ids(text(client.get(f"/admin/{endpoint}/")))
    assert everything or endpoint in ("customers", "subscriptions", "payments", "audit")
    for secret in SECRETS:
        response = client.get(
            f"/admin/{endpoint}/", query_string={"search": secret, "match": match}
        )
        assert response.status_code == 200
        assert row_ids(text(response)) == []


def test_verification_tokens_are_listed_without_their_token_even_in_links(app, seeded):
    page = text(signed_in(app, "ADMIN").get("/admin/verification_tokens/"))
    assert "holder@example.com" in page
    assert_no_secret(page, "verification tokens")
    assert "details/?id=" not in page and "action-checkbox" not in page


def test_details_of_an_account_and_a_session_name_no_secret(app, seeded):
    client = signed_in(app, "SUPPORT")
    account = db.session.scalar(sa.select(view(app, "accounts").model))
    session = db.session.scalar(sa.select(view(app, "sessions").model))
    for path in (
        f"/admin/accounts/details/?id={account.id}",
        f"/admin/sessions/details/?id={session.id}",
    ):
        response = client.get(path)
        assert response.status_code == 200 and "holder@example.com" in text(response)
        assert_no_secret(text(response), path)
