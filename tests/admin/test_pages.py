"""Safe defaults on every page: security headers, a nonce CSP that the HTML obeys (no inline
handlers or styles, every script carries the nonce), assets from this site only; and the
pages that explain roles."""

from __future__ import annotations

import re

import pytest

from dashboard.models import StaffRole
from dashboard.permissions import MODELS, Tool
from tests.admin.routes import routes
from tests.conftest import sign_in_with_forms
from tests.factories import make_staff, make_user

INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
ASSET = re.compile(r'<(?:script|link|img)\b[^>]*\s(?:src|href)="([^"]+)"', re.I)


@pytest.fixture
def admin_client(app):
    make_user()
    client = app.test_client()
    sign_in_with_forms(client, make_staff("ADMIN"))
    return client


def html_pages(app, client):
    for route in routes(app):
        if route.method != "GET":
            continue
        response = client.get(route.path)
        if response.status_code == 200 and response.mimetype == "text/html":
            yield route, response
    yield "sign-in", app.test_client().get("/auth/sign-in")


def test_every_page_obeys_its_content_security_policy(app, admin_client):
    pages = 0
    for route, response in html_pages(app, admin_client):
        csp = response.headers["Content-Security-Policy"]
        nonce = re.search(r"script-src 'self' 'nonce-([\w-]+)'", csp).group(1)
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        html = response.get_data(as_text=True)
        assert not INLINE_HANDLER.search(html), f"{route}: inline event handler"
        assert not INLINE_STYLE.search(html), f"{route}: inline style attribute"
        for attributes in SCRIPT.findall(html):
            assert f'nonce="{nonce}"' in attributes or 'src="/' in attributes, route
        for url in ASSET.findall(html):
            assert url.startswith("/") and not url.startswith("//"), f"{route}: {url}"
        pages += 1
    assert pages >= 8


def test_security_headers(app, client):
    response = client.get("/auth/sign-in")
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # only in production (HSTS_SECONDS)
    static = client.get("/static/js/admin.js")
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_nonces_differ_between_responses(app, client):
    first = client.get("/auth/sign-in").headers["Content-Security-Policy"]
    second = client.get("/auth/sign-in").headers["Content-Security-Policy"]
    assert first != second


@pytest.mark.parametrize("role", [role.value for role in StaffRole])
def test_the_roles_page_shows_the_whole_matrix_to_everyone(app, role):
    client = app.test_client()
    sign_in_with_forms(client, make_staff(role))
    page = client.get("/admin/roles/").get_data(as_text=True)
    for model in MODELS:
        assert f"<td>{model}</td>" in page
    for tool in Tool:
        assert f"tool: {tool.value}" in page
    assert "EDITOR sees only email, id, name of User." in page
    assert f"Your role is <b>{role}</b>" in page


def test_home_lists_only_what_the_role_may_open(app):
    client = app.test_client()
    sign_in_with_forms(client, make_staff("EDITOR"))
    links = client.get("/admin/").get_data(as_text=True)
    links = links[links.index('id="bo-home-links"') :]
    assert (
        "/admin/users/" in links and "/admin/staff/" not in links and "/admin/audit/" not in links
    )


def test_root_redirects_to_the_dashboard(app, admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302 and response.location == "/admin/"
