"""A real browser (headless Chromium through Playwright) follows a Stripe resync: an admin
starts one on Resync Stripe against the fake Stripe, the job page polls its status and moves
the progress bar while the job runs, then shows the report and stops polling; the page's
scripts cause no CSP violation."""

from __future__ import annotations

import threading

from dashboard.extensions import db
from dashboard.jobs import run_pending_jobs
from tests.admin import test_browser
from tests.factories import make_staff
from tests.stripe_sync.world import build_world

browser = test_browser.browser  # fixtures
live_server = test_browser.live_server


def test_an_admin_follows_a_resync_from_queued_to_its_report(
    browser, committed_stripe_app, fake_stripe, live_server
):
    build_world(fake_stripe)
    email = make_staff("ADMIN").email
    db.session.commit()
    # Stripe "answers" the subscription list only when the test says so: the job is seen
    # running, part way through.
    answer_subscriptions = threading.Event()
    fake_stripe.on_request("/v1/subscriptions", lambda: answer_subscriptions.wait(timeout=20))

    page = browser.new_page()
    problems = test_browser.watch(page)
    polls = test_browser.watch_polls(page)
    test_browser.sign_in(page, live_server, "/admin/resync/", email)
    page.click("#resync-start")
    page.wait_for_url("**/admin/resync/job/*")
    assert page.text_content("#job-status") == "queued"
    assert page.get_attribute("#job", "data-finished") == "false"
    page.wait_for_function("() => document.querySelector('#job-progress').value === 0")

    # The test runs the queued job (the inline runner) while the page keeps polling.
    def run_jobs() -> None:
        with committed_stripe_app.app_context():
            run_pending_jobs(committed_stripe_app)
            db.session.remove()

    worker = threading.Thread(target=run_jobs)
    worker.start()
    try:
        page.wait_for_selector("#job-status:has-text('running')", timeout=15_000)
        page.wait_for_function(
            "() => document.querySelector('#job-progress').value > 0", timeout=15_000
        )
        assert page.text_content("#job-message")
        assert page.get_attribute("#job", "data-finished") == "false"
    finally:
        answer_subscriptions.set()
        worker.join(timeout=60)

    # Once the job is done the page reloads with the report and stops polling.
    page.wait_for_selector("#job-report", timeout=15_000)
    assert page.get_attribute("#job", "data-finished") == "true"
    assert page.text_content("#job-status") == "succeeded"
    assert "finished without failures" in page.text_content("#job-outcome")
    created = page.text_content("#job-report tr[data-type='subscriptions'] [data-count='created']")
    assert created == "1"
    assert page.query_selector("#job-waiting") is None
    assert polls
    seen = len(polls)
    page.wait_for_timeout(2_500)
    assert len(polls) == seen

    assert problems == []
