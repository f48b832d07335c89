"""A real browser (headless Chromium through Playwright): an editor signs in, finds a draft,
previews it, publishes it and sees it listed as published, with no CSP violation."""

from __future__ import annotations

from dashboard.extensions import db
from dashboard.models import BlogPost
from tests.admin.test_browser import browser, live_server, watch  # noqa: F401 - fixtures
from tests.factories import STAFF_PASSWORD, make_post, make_staff, make_user


def test_an_editor_finds_previews_and_publishes_a_draft(browser, committed_app, live_server):  # noqa: F811
    editor = make_staff("EDITOR")
    author = make_user(email="writer@example.com")
    make_post(author, title="Something else entirely")
    draft = make_post(
        author,
        title="Autumn gardening tips",
        content="## Plant bulbs\n\nNow is the time. <script>alert(1)</script>",
    )
    email, draft_id = editor.email, draft.id
    db.session.commit()

    page = browser.new_page()
    problems = watch(page)
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto(f"{live_server}/admin/blog_posts/")
    page.fill("#email", email)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url("**/admin/blog_posts/")

    # Find the draft by the start of its title.
    page.fill("input[name=search]", "autumn")
    page.press("input[name=search]", "Enter")
    page.wait_for_selector("text=Autumn gardening tips")
    assert "Something else entirely" not in page.content()
    page.click("a:has-text('Autumn gardening tips')")
    page.wait_for_url("**/admin/blog_posts/details/**")

    # Preview: rendered Markdown, the script shown as text and never run.
    page.click("#post-preview")
    page.wait_for_selector("#preview-body h2:has-text('Plant bulbs')")
    assert page.locator("#preview-body script").count() == 0

    page.click("#post-publish")
    page.wait_for_selector("text=is published at /autumn-gardening-tips")

    page.goto(f"{live_server}/admin/blog_posts/?search=autumn")
    row = page.locator(f"tr:has(td[data-row='{draft_id}'])")
    assert row.locator("td.col-is_published").inner_text().strip() == "yes"

    db.session.expire_all()
    stored = db.session.get(BlogPost, draft_id)
    assert stored.is_published and stored.slug == "autumn-gardening-tips"
    assert problems == []
