"""A real browser (headless Chromium through Playwright) generates a post: an editor signs
in, opens the Generate page for a customer with tokens, pastes text, sees the cost (live,
then from the server), generates, waits on the job page until it says saved, follows the
link to the draft, previews and publishes it; the job runs in a thread of the live server
against the fake OpenAI API, and the page's scripts cause no CSP violation."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import BlogPost, User
from dashboard.services.posts.generation import post_character_count
from tests import fake_openai
from tests.admin import test_browser
from tests.factories import make_staff, make_user
from tests.fake_openai import ok_draft, serve

openai_http = fake_openai.openai_http  # fixtures
openai_server = fake_openai.openai_server
browser = test_browser.browser
live_server = test_browser.live_server

TEXT = "Sourdough bread needs flour, water, salt and a lively starter. " * 300  # 2 tokens
# Where a browser's count could part from the server's: line endings, NUL, whitespace that
# only one of JavaScript's trim() and Python's strip() removes, combining marks, emoji.
TRICKY = [
    "a\r\nb\rc\n",
    "\x00 x \x00",
    "\ufeffword\ufeff",
    "\x1c\x1dword\x1e\x1f\x85",
    "\u00a0\u2003word\u3000\u2029",
    "e\u0301 👍 👨‍👩‍👧",
    "\u180eword\u200b",
    "",
]


@pytest.fixture
def threaded_jobs(committed_app, monkeypatch):  # noqa: ANN201
    """Jobs run in a thread of the live server, as in development; joined afterwards."""
    monkeypatch.setitem(committed_app.config, "JOB_RUNNER", "thread")
    threads = committed_app.extensions.setdefault("job_threads", [])
    yield
    for thread in threads:
        thread.join(timeout=30)
    threads.clear()


@pytest.fixture
def writing_gate(openai_server):  # noqa: ANN201
    """OpenAI "writes" until the test sets this event, so the job page is seen while the job
    runs (listed after ``threaded_jobs``: released before the job threads are joined)."""
    release = threading.Event()

    def slow_draft(request):  # noqa: ANN001, ANN202
        release.wait(timeout=20)
        return ok_draft(request)

    serve(openai_server, text=slow_draft)
    yield release
    release.set()


def test_an_editor_generates_previews_and_publishes_a_post(
    browser, committed_app, live_server, openai_server, threaded_jobs, writing_gate
):
    staff = make_staff("EDITOR")
    user = make_user(email="baker@example.com", name="Baker", tokens=3)
    email, user_id = staff.email, user.id
    db.session.commit()

    page = browser.new_page()
    problems = test_browser.watch(page)
    polls = test_browser.watch_polls(page)
    test_browser.sign_in(page, live_server, f"/admin/generate/?user_id={user_id}", email)
    assert page.input_value("#user") == "baker@example.com"
    assert page.text_content("#figure-balance") == "3"

    # The script counts as the server does.
    for text in TRICKY:
        counted = page.evaluate("text => window.backofficeCharacters(text)", text)
        assert counted == post_character_count(text), repr(text)

    page.fill("#text", TEXT)
    characters = post_character_count(TEXT)
    assert page.text_content("#figure-characters") == f"{characters:,}"
    assert page.text_content("#figure-cost") == "2"
    assert "Counted in your browser" in page.text_content("#figures-source")

    page.click("#generate-check")
    page.wait_for_selector("#figures-source:has-text('Counted by the server')")
    assert page.text_content("#figure-characters") == f"{characters:,}"
    assert page.text_content("#figure-cost") == "2"
    assert page.input_value("#text").strip() == TEXT.strip()

    page.click("#generate-submit")
    page.wait_for_url("**/admin/generate/job/*")
    assert "2 tokens charged" in page.text_content(".alert-success")
    # The page polls the status every 2 s while the job runs ...
    page.wait_for_selector("#job[data-word='writing']", timeout=10_000)
    assert page.get_attribute("#job", "data-finished") == "false"
    writing_gate.set()
    # ... and, once the job is done, shows the outcome and stops polling.
    page.wait_for_selector("#job-saved", timeout=30_000)
    assert page.text_content("#job-word") == "saved"
    assert page.get_attribute("#job", "data-finished") == "true"
    assert polls
    seen = len(polls)
    page.wait_for_timeout(2_500)
    assert len(polls) == seen

    db.session.expire_all()
    post = db.session.execute(sa.select(BlogPost)).scalar_one()
    assert (post.user_id, post.is_published, post.character_count) == (user_id, False, characters)
    assert db.session.get(User, user_id).tokens == 1
    assert page.text_content("#preview-heading") == post.title
    assert page.evaluate("document.getElementById('preview-image').naturalWidth") == 1

    # The draft waits for review: open it, preview it, publish it.
    page.click("#job-post-link")
    page.wait_for_url(re.compile(r".*/details/\?id=" + re.escape(post.id)))
    assert post.title in page.content()
    page.click("#post-preview")
    page.wait_for_selector("#preview-body h2")
    assert page.locator("#preview-body script").count() == 0
    page.click("#post-publish")
    page.wait_for_selector("text=is published at /")
    db.session.expire_all()
    published = db.session.get(BlogPost, post.id)
    assert published.is_published and published.slug and published.published_at is not None

    assert problems == []
