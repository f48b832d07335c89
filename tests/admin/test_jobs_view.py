"""The Jobs view: read-only, newest first, filtered by kind and status; EDITOR sees post
generation jobs only; details show params, result and error and link to the job's page."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from dashboard.extensions import db
from dashboard.models import JobStatus, utcnow
from tests.conftest import sign_in_with_forms
from tests.factories import make_job, make_staff

pytestmark = pytest.mark.backends("postgresql", "sqlite")

JOBS = "/admin/jobs/"


@pytest.fixture
def jobs(app):
    now = utcnow()
    resync = make_job(
        created_at=now - timedelta(minutes=5),
        result={"ok": True, "types": {"products": {"created": 3}}},
    )
    generation = make_job(
        kind="post_generation",
        status=JobStatus.FAILED,
        params={"characters": 120},
        error="The AI service answered <b>500</b>",
        created_at=now,
    )
    db.session.commit()
    return {"resync": resync, "generation": generation}


def signed_in(app, role: str):
    client = app.test_client()
    assert sign_in_with_forms(client, make_staff(role)).status_code == 302
    return client


def page(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_admin_sees_every_job_newest_first_with_its_details(app, jobs):
    client = signed_in(app, "ADMIN")
    html = page(client.get(JOBS))
    assert html.index(jobs["generation"].id) < html.index(jobs["resync"].id)

    raw = client.get(f"{JOBS}details/?id={jobs['generation'].id}").get_data(as_text=True)
    assert "The AI service answered &lt;b&gt;500&lt;/b&gt;" in raw
    assert '<pre class="bo-json">' in raw and "&#34;characters&#34;: 120" in raw
    assert f'href="/admin/generate/job/{jobs["generation"].id}"' in raw

    details = page(client.get(f"{JOBS}details/?id={jobs['resync'].id}"))
    assert f'href="/admin/resync/job/{jobs["resync"].id}"' in details
    assert "Open on the Resync Stripe page" in details
    assert client.get(f"{JOBS}edit/?id={jobs['resync'].id}").status_code == 403


def test_an_editor_sees_post_generation_jobs_only(app, jobs):
    client = signed_in(app, "EDITOR")
    html = page(client.get(JOBS))
    assert jobs["generation"].id in html and jobs["resync"].id not in html
    assert client.get(f"{JOBS}details/?id={jobs['generation'].id}").status_code == 200
    hidden = client.get(f"{JOBS}details/?id={jobs['resync'].id}")
    assert hidden.status_code == 302 and jobs["resync"].id not in page(client.get(hidden.location))
    found = page(client.get(JOBS, query_string={"search": jobs["generation"].id}))
    assert f"details/?id={jobs['generation'].id}" in found
    filtered = page(client.get(JOBS, query_string={"search": jobs["resync"].id}))
    assert f"details/?id={jobs['resync'].id}" not in filtered


@pytest.mark.parametrize(
    ("name", "value", "shown", "hidden"),
    [
        ("Kind", "stripe_resync", "resync", "generation"),
        ("Kind", "post_generation", "generation", "resync"),
        ("Status", "failed", "generation", "resync"),
        ("Status", "succeeded", "resync", "generation"),
    ],
)
def test_the_list_filters_by_kind_and_status(app, jobs, name, value, shown, hidden):
    client = signed_in(app, "ADMIN")
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "jobs")
    arg = next(f"flt0_{key}" for key, (_i, flt) in view._filter_args.items() if flt.name == name)
    html = page(client.get(JOBS, query_string={arg: value}))
    assert jobs[shown].id in html and jobs[hidden].id not in html


@pytest.mark.parametrize("role", ["SUPPORT"])
def test_roles_without_job_view_are_refused(app, jobs, role):
    client = signed_in(app, role)
    assert client.get(JOBS).status_code == 403
    assert client.get(f"{JOBS}details/?id={jobs['generation'].id}").status_code == 403
