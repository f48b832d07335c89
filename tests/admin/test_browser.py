"""A real browser (headless Chromium through Playwright) signs in with password and TOTP,
uses the pages whose scripts the CSP could break, signs out, and sees no CSP violation."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dashboard.extensions import db
from dashboard.models import User, utcnow
from dashboard.services.staff import totp
from tests.conftest import IN_CI
from tests.factories import STAFF_PASSWORD, make_staff, make_user

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def live_server(committed_app) -> Iterator[str]:
    """The app served by a werkzeug thread on 127.0.0.1, on a port the OS picks."""
    server = make_server("127.0.0.1", 0, committed_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def watch(page) -> list[str]:  # noqa: ANN001
    """Collect the page's console errors and warnings (a CSP violation is one) and uncaught
    script errors; the test asserts the list is empty at the end."""
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def watch_polls(page) -> list[str]:  # noqa: ANN001
    """Collect the URLs of the job status polls the page sends."""
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "/status" in request.url else None
    )
    return polls


def sign_in(page, live_server: str, path: str, email: str) -> None:  # noqa: ANN001
    """Open ``path``, be sent to the sign-in form, sign in without a second factor and land
    back on ``path``."""
    page.goto(f"{live_server}{path}")
    assert page.url.startswith(f"{live_server}/auth/sign-in")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"**{path}")


@pytest.fixture
def browser():  # noqa: ANN201
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium chromium-driver)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def test_sign_in_with_totp_use_the_admin_and_sign_out_without_csp_violations(
    browser, committed_app, live_server
):
    staff = make_staff("ADMIN", totp_secret=SECRET)
    user = make_user(email="customer@example.com", name="Customer")
    email, staff_id, user_id = staff.email, staff.id, user.id
    db.session.commit()

    page = browser.new_page()
    problems = watch(page)
    dialogs: list[str] = []

    def answer(dialog) -> None:  # noqa: ANN001
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)

    page.goto(f"{live_server}/admin/users/")
    assert page.url.startswith(f"{live_server}/auth/sign-in")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url("**/auth/second-factor")
    page.fill("#code", totp.code_at(SECRET, utcnow()))
    page.click("#second-factor-form button[type=submit]")
    page.wait_for_url("**/admin/users/")
    assert "customer@example.com" in page.content()

    # Inline edit (x-editable posts with the CSRF token).
    page.click(f"a[data-pk='{user_id}']")
    page.fill(".editable-input textarea", "Renamed Inline")
    page.click(".editable-submit")
    page.wait_for_selector(f"a[data-pk='{user_id}']:has-text('Renamed Inline')")
    db.session.expire_all()
    assert db.session.get(User, user_id).name == "Renamed Inline"

    # The filter menu (Flask-Admin's bs4_filters.js under the CSP).
    page.click("text=Add Filter")
    page.click("a.filter >> nth=0")
    page.wait_for_selector("table.filters tr")

    # An edit form (form.js, select2) and the audit log's date filter (daterangepicker).
    page.goto(f"{live_server}/admin/users/edit/?id={user_id}")
    page.wait_for_selector("form.admin-form")
    page.goto(f"{live_server}/admin/audit/")
    page.click("text=Add Filter")
    page.click("a.filter:has-text('When (UTC)')")
    page.wait_for_selector("table.filters tr")

    # A confirmation button (static/js/admin.js replaces the inline onclick).
    page.goto(f"{live_server}/admin/staff/details/?id={staff_id}")
    page.goto(f"{live_server}/admin/staff/")
    page.goto(f"{live_server}/admin/users/details/?id={user_id}")
    assert "History" in page.content()
    other = make_staff("EDITOR")
    db.session.commit()
    page.goto(f"{live_server}/admin/staff/details/?id={other.id}")
    page.click("button[data-bo-confirm]:has-text('Deactivate')")
    assert dialogs and "Deactivate" in dialogs[0]
    assert "can no longer sign in" not in page.content()  # dismissed: nothing was posted

    page.goto(f"{live_server}/admin/roles/")
    page.click("#bo-sign-out")
    page.wait_for_url("**/auth/sign-in")
    assert "You are signed out." in page.content()
    page.goto(f"{live_server}/admin/")
    assert page.url.startswith(f"{live_server}/auth/sign-in")

    assert problems == []
