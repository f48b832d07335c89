"""The Generate post page and the job page, through the test client: who may use them, what
they refuse (with nothing charged), that the cost shown is the cost charged, that a double
submit is one job, and a generation from the form to the saved draft, or to a failure,
its refund and a Retry."""

from __future__ import annotations

import re
import uuid
from html import unescape
from io import BytesIO

import pytest
import sqlalchemy as sa
from werkzeug import Request, Response

from dashboard.admin.links import model_details_url
from dashboard.admin.views import generate
from dashboard.extensions import db
from dashboard.jobs import run_pending_jobs
from dashboard.models import BlogPost, Job, JobStatus, LedgerKind, TokenLedgerEntry, User
from dashboard.services.posts.ai import ERR_NOT_CONFIGURED, ERR_TONE, TONES
from dashboard.services.posts.generation import (
    ERR_EMPTY,
    ERR_KEY,
)
from dashboard.services.posts.text import (
    ERR_UPLOAD_ENCODING,
    ERR_UPLOAD_SIZE,
    ERR_UPLOAD_TYPE,
    UPLOAD_MAX_BYTES,
)
from dashboard.services.user_lookup import ERR_EMPTY as ERR_NO_USER
from dashboard.services.user_lookup import ERR_UNKNOWN
from tests import fake_openai
from tests.conftest import csrf_token, sign_in_with_forms
from tests.factories import make_staff, make_user
from tests.fake_openai import GOOD_DRAFT, error_payload, json_response, serve

openai_http = fake_openai.openai_http  # fixtures
openai_server = fake_openai.openai_server

INDEX = "/admin/generate/"
KEY = "8d0f6f3e-6c0b-4c57-9d0e-2f1b0d6a4c11"
TEXT = "Sourdough bread is made with a natural starter and patience. " * 20


def signed_in(flask_app, role: str, *, commit: bool = False):  # noqa: ANN201
    client = flask_app.test_client()
    staff = make_staff(role)
    if commit:
        db.session.commit()
    assert sign_in_with_forms(client, staff).status_code == 302
    return client


def page(response) -> str:  # noqa: ANN001
    return unescape(response.get_data(as_text=True))


def submit(client, *, action: str = "generate", key: str = KEY, **fields):  # noqa: ANN001, ANN201
    data = {"csrf_token": csrf_token(client), "action": action, "key": key, "tone": "neutral"}
    data.update(fields)
    return client.post(INDEX, data=data, content_type="multipart/form-data")


def figure(html: str, name: str) -> str:
    return re.search(rf'id="figure-{name}">([^<]*)<', html).group(1)


def jobs() -> list[Job]:
    db.session.expire_all()
    return list(db.session.execute(sa.select(Job).order_by(Job.created_at)).scalars())


def ledger(user_id: str) -> list[tuple[str, int]]:
    """The user's generation charges and refunds (an opening balance row may precede them)."""
    kinds = (LedgerKind.GENERATION_CHARGE, LedgerKind.GENERATION_REFUND)
    rows = db.session.execute(
        sa.select(TokenLedgerEntry.kind, TokenLedgerEntry.delta)
        .where(TokenLedgerEntry.user_id == user_id, TokenLedgerEntry.kind.in_(kinds))
        .order_by(TokenLedgerEntry.id)
    ).all()
    return [(str(kind), delta) for kind, delta in rows]


def balance(user_id: str) -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(User.tokens).where(User.id == user_id)).scalar_one()


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("EDITOR", 200), ("ADMIN", 200), ("SUPPORT", 403)])
def test_each_role_gets_what_the_matrix_grants(app, role, status):
    client = signed_in(app, role)
    job_path = "/admin/generate/job/no-such-job"
    assert client.get(INDEX).status_code == status
    assert client.get(job_path).status_code == (404 if status == 200 else 403)
    assert client.get(f"{job_path}/status").status_code == (404 if status == 200 else 403)
    retry = client.post(f"{job_path}/retry", data={"csrf_token": csrf_token(client), "key": KEY})
    assert retry.status_code == (302 if status == 200 else 403)
    assert ("Generate post" in page(client.get("/admin/"))) == (status == 200)  # the menu


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", INDEX),
        ("POST", INDEX),
        ("GET", "/admin/generate/job/some-job"),
        ("GET", "/admin/generate/job/some-job/status"),
        ("POST", "/admin/generate/job/some-job/retry"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(app, client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")


# --- the form ---------------------------------------------------------------------------------


def test_the_page_opened_from_a_user_page_is_for_that_user(app, openai_server):
    user = make_user(email="baker@example.com", tokens=7)
    html = page(signed_in(app, "EDITOR").get(f"{INDEX}?user_id={user.id}"))
    assert 'value="baker@example.com"' in html
    assert figure(html, "balance") == "7"
    assert not re.search(r'id="generate-(problem|error)"', html)
    key = re.search(r'id="generate-key" name="key" type="hidden" value="([^"]+)"', html).group(1)
    assert uuid.UUID(key).version == 4


def test_every_rendered_form_has_its_own_key(app, openai_server):
    user = make_user(tokens=0)
    client = signed_in(app, "EDITOR")
    rendered = [
        client.get(INDEX),
        client.get(INDEX),
        submit(client, action="check", user=user.id, text=TEXT),
        submit(client, user=user.id, text=TEXT),  # refused: the balance is short
        submit(client, user=user.id, text=TEXT, key=""),  # refused: no key
    ]
    keys = {
        re.search(r'name="key" type="hidden" value="([^"]+)"', page(response)).group(1)
        for response in rendered
    }
    assert len(keys) == 5 and KEY not in keys
    assert ERR_KEY in page(rendered[-1]) and jobs() == []


def test_an_unknown_user_id_in_the_link_is_reported(app, openai_server):
    html = page(signed_in(app, "EDITOR").get(f"{INDEX}?user_id=nobody-here"))
    assert ERR_UNKNOWN.format(query="nobody-here") in html


@pytest.mark.parametrize("typed", ["{id}", "{email}", "  {email}  ", "{upper}"])
def test_the_customer_is_found_by_id_or_email(app, openai_server, typed):
    user = make_user(email="Mixed.Case@example.com", tokens=3)
    entry = typed.format(id=user.id, email=user.email, upper=user.email.upper())
    html = page(submit(signed_in(app, "EDITOR"), action="check", user=entry, text="Bread."))
    assert figure(html, "balance") == "3" and figure(html, "cost") == "1"
    assert 'id="generate-user"' in html and "Mixed.Case@example.com" in html


BAD_UPLOAD = "bad-upload"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "   \r\n\t "}, ERR_EMPTY),
        ({"text": "x" * 15_001}, "Generating this post costs 2 tokens, but {email} has 1."),
        (
            {"text": TEXT, "user": "nobody@example.com"},
            ERR_UNKNOWN.format(query="nobody@example.com"),
        ),
        ({"text": TEXT, "user": ""}, ERR_NO_USER),
        ({"upload": ("notes.pdf", b"%PDF-1.7")}, ERR_UPLOAD_TYPE.format(name="notes.pdf")),
        ({"upload": ("notes.md", b"caf\xe9 au lait")}, ERR_UPLOAD_ENCODING.format(position=4)),
        (
            {"upload": ("notes.txt", b"a" * (UPLOAD_MAX_BYTES + 1))},
            ERR_UPLOAD_SIZE.format(size=UPLOAD_MAX_BYTES + 1, limit=UPLOAD_MAX_BYTES),
        ),
        (
            {"text": TEXT, "tone": "furious"},
            ERR_TONE.format(tone="furious", choices=", ".join(TONES)),
        ),
    ],
    ids=["empty", "short-balance", "unknown-user", "no-user", "type", "encoding", "size", "tone"],
)
@pytest.mark.parametrize("action", ["check", "generate"])
def test_refusals_are_explained_and_nothing_is_charged(app, openai_server, fields, message, action):
    user = make_user(email="short@example.com", tokens=1)
    client = signed_in(app, "EDITOR")
    data = {"user": user.email, **fields}
    if "upload" in data:
        name, content = data.pop("upload")
        data["upload"] = (BytesIO(content), name)
    response = submit(client, action=action, **data)
    html = page(response)
    assert response.status_code == 200
    assert message.format(email=user.email) in html
    assert jobs() == [] and ledger(user.id) == [] and balance(user.id) == 1


def test_an_uploaded_file_replaces_the_text_and_is_counted(app, openai_server):
    user = make_user(tokens=5)
    body = "\ufeff# Crème brûlée\r\n\r\nCaramel on top. 👍\r\n"  # BOM, CRLF, accents, emoji
    upload = (BytesIO(body.encode("utf-8")), "recipe.md")
    html = page(
        submit(
            signed_in(app, "EDITOR"), action="check", user=user.id, text="ignored", upload=upload
        )
    )
    assert "# Crème brûlée\r\n\r\nCaramel on top. 👍" in html and "ignored" not in html
    assert figure(html, "characters") == str(len("# Crème brûlée\n\nCaramel on top. 👍"))
    assert figure(html, "cost") == "1"


def test_a_request_too_large_to_read_is_refused_with_the_limits(app, openai_server, monkeypatch):
    monkeypatch.setattr(generate, "REQUEST_MAX_BYTES", 4096)
    user = make_user(tokens=5)
    client = signed_in(app, "EDITOR")
    upload = (BytesIO(b"a" * 8192), "big.txt")
    response = submit(client, user=user.id, upload=upload)
    assert response.status_code == 302 and response.location.startswith(INDEX)
    html = page(client.get(response.location))
    assert "The submission was too large and was not read" in html
    assert jobs() == [] and balance(user.id) == 5


@pytest.mark.parametrize(("characters", "cost"), [(15_000, 1), (15_001, 2)])
def test_the_cost_shown_is_the_cost_charged(app, openai_server, characters, cost):
    user = make_user(email="edge@example.com", tokens=5)
    client = signed_in(app, "EDITOR")
    text = "\r\n  " + "é" * characters + "  \n"  # surrounding whitespace is not counted
    html = page(submit(client, action="check", user=user.email, text=text))
    assert figure(html, "characters") == f"{characters:,}" and figure(html, "cost") == str(cost)
    assert figure(html, "balance") == "5"

    response = submit(client, user=user.email, text=text)
    assert response.status_code == 302
    assert ledger(user.id) == [(str(LedgerKind.GENERATION_CHARGE), -cost)]
    assert balance(user.id) == 5 - cost
    s = "" if cost == 1 else "s"
    flash = f"edge@example.com: {characters:,} characters, {cost} token{s} charged."
    assert flash in page(client.get(response.location))


def test_a_double_submitted_form_is_one_job_and_one_charge(app, openai_server):
    user = make_user(tokens=5)
    client = signed_in(app, "EDITOR")
    first = submit(client, user=user.id, text=TEXT)
    second = submit(client, user=user.id, text=TEXT)
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert len(jobs()) == 1 and balance(user.id) == 4
    assert generate.MSG_SEEN in page(client.get(second.location))
    # A new form (a new key) is a new generation.
    assert (
        submit(client, user=user.id, text=TEXT, key=generate.new_submission_key()).status_code
        == 302
    )
    assert len(jobs()) == 2 and balance(user.id) == 3


def test_without_an_api_key_the_page_says_so_and_charges_nothing(app, monkeypatch):
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", None)
    user = make_user(tokens=5)
    client = signed_in(app, "ADMIN")
    html = page(client.get(f"{INDEX}?user_id={user.id}"))
    assert 'id="generate-not-configured"' in html
    assert re.search(r'id="generate-submit"[^>]* disabled', html)
    response = submit(client, user=user.id, text=TEXT)
    assert ERR_NOT_CONFIGURED in page(response)
    assert jobs() == [] and ledger(user.id) == [] and balance(user.id) == 5
    assert ERR_NOT_CONFIGURED in page(submit(client, action="check", user=user.id, text=TEXT))


# --- from the form to the draft, or to a failure and a retry ----------------------------------


def server_error(request: Request) -> Response:
    return json_response(error_payload("The server had an error", "server_error", None), 500)


def test_a_generation_from_the_page_to_the_saved_draft(committed_app, openai_server):
    user = make_user(email="baker@example.com", tokens=3)
    user_id = user.id
    client = signed_in(committed_app, "EDITOR", commit=True)

    response = submit(
        client, user=user_id, text=TEXT, image="y", keywords="sourdough, bread", tone="friendly"
    )
    job_url = response.location
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    html = page(client.get(job_url))
    assert 'data-finished="false"' in html and re.search(r'id="job-word">queued<', html)
    status = client.get(f"{job_url}/status").get_json()
    assert status["finished"] is False and status["progress_word"] == "queued"
    assert status["cost"] == 1 and status["post_url"] is None

    assert run_pending_jobs(committed_app) == [job_id]
    db.session.expire_all()
    post = db.session.execute(sa.select(BlogPost)).scalar_one()
    assert (post.user_id, post.is_published, post.tokens_used) == (user_id, False, 1)

    html = page(client.get(job_url))
    assert 'data-finished="true"' in html and re.search(r'id="job-word">saved<', html)
    assert f"Draft “{post.title}”" in html or "Open the draft" in html
    with committed_app.test_request_context():
        details = model_details_url("blog_posts", post.id)
    if details is not None:  # the posts view is registered: a link to the draft's page
        assert f'id="job-post-link" href="{details}"' in html
    else:
        assert f"<code>{post.id}</code>" in html
    # The preview: title, meta description, the image through Backoffice, a sanitised body.
    assert post.meta_description in html and "<h2>Feed your starter</h2>" in html
    image = re.search(r'id="preview-image" src="(/media/[^"]+)"', html).group(1)
    assert client.get(image).data == fake_openai.PNG
    assert GOOD_DRAFT["body_markdown"].splitlines()[0] not in html  # the H1 became an H2

    status = client.get(f"{job_url}/status").get_json()
    assert status == {
        "id": job_id,
        "status": "succeeded",
        "progress_word": "saved",
        "progress": 100,
        "finished": True,
        "error": None,
        "refunded_tokens": 0,
        "cost": 1,
        "post_id": post.id,
        "post_url": details,
        "job_url": job_url,
    }
    listing = page(client.get(INDEX))
    row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", listing, re.S).group(1)
    assert "baker@example.com" in row and "saved" in row and f'href="{job_url}"' in row
    assert balance(user_id) == 2


def test_a_failure_shows_its_reason_and_refund_and_retry_charges_again(
    committed_app, openai_server
):
    serve(openai_server, text=server_error)
    user = make_user(email="retry@example.com", tokens=2)
    user_id = user.id
    client = signed_in(committed_app, "ADMIN", commit=True)
    job_url = submit(client, user=user_id, text=TEXT).location
    run_pending_jobs(committed_app)

    html = page(client.get(job_url))
    assert 'data-finished="true"' in html and re.search(r'id="job-word">failed<', html)
    reason = re.search(r'id="job-error">([^<]+)<', html).group(1)
    assert "OpenAI had a server error (HTTP 500)" in reason
    assert "The 1 token charged was refunded to retry@example.com." in html
    assert client.get(f"{job_url}/status").get_json()["refunded_tokens"] == 1
    assert balance(user_id) == 2

    serve(openai_server)
    key = re.search(r'id="retry-key" name="key" type="hidden" value="([^"]+)"', html).group(1)
    data = {"csrf_token": csrf_token(client), "key": key}
    first = client.post(f"{job_url}/retry", data=data)
    again = client.post(f"{job_url}/retry", data=data)  # the button pressed twice
    assert first.status_code == again.status_code == 302
    assert first.location == again.location != job_url
    assert len(jobs()) == 2 and balance(user_id) == 1
    charge, refund = str(LedgerKind.GENERATION_CHARGE), str(LedgerKind.GENERATION_REFUND)
    assert ledger(user_id) == [(charge, -1), (refund, 1), (charge, -1)]
    retried = page(client.get(first.location))
    assert "Retrying as a new generation for retry@example.com: 1 token charged." in retried
    assert 'id="job-retry-of">' in retried

    run_pending_jobs(committed_app)
    assert re.search(r'id="job-word">saved<', page(client.get(first.location)))
    # Only a failed generation can be retried.
    refused = client.post(
        f"{first.location}/retry", data={**data, "key": generate.new_submission_key()}
    )
    assert refused.location == first.location
    assert "Only a failed generation can be retried" in page(client.get(first.location))
    assert len(jobs()) == 2 and balance(user_id) == 1


def test_the_status_endpoint_answers_json_only_for_generation_jobs(app, openai_server):
    user = make_user(tokens=2)
    client = signed_in(app, "EDITOR")
    job_url = submit(client, user=user.id, text=TEXT).location
    queued = client.get(f"{job_url}/status")
    assert queued.mimetype == "application/json"
    assert queued.get_json()["status"] == "queued" and queued.get_json()["finished"] is False

    missing = client.get("/admin/generate/job/no-such-job/status")
    assert missing.status_code == 404 and missing.get_json() == {"error": generate.MSG_NOT_FOUND}
    other = Job(kind="stripe_resync", requested_by_label="cli", status=JobStatus.QUEUED)
    db.session.add(other)
    db.session.flush()
    assert client.get(f"/admin/generate/job/{other.id}/status").status_code == 404
    assert client.get(f"/admin/generate/job/{other.id}").status_code == 404


@pytest.mark.parametrize("job_id", ["a%00b", "x" * 5000, "%27%20OR%201=1--", "%25"])
def test_hostile_job_ids_are_not_found(app, job_id):
    client = signed_in(app, "EDITOR")
    base = f"/admin/generate/job/{job_id}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/status").status_code == 404
    retry = client.post(f"{base}/retry", data={"csrf_token": csrf_token(client), "key": KEY})
    assert retry.status_code == 302 and retry.location == INDEX
    assert "No post generation with id" in page(client.get(INDEX))
    assert jobs() == []


@pytest.mark.parametrize("entry", ["a\x00b", "' OR 1=1 --", "%", "x" * 10_000])
def test_hostile_customer_entries_are_unknown_users(app, openai_server, entry):
    user = make_user(tokens=5)
    client = signed_in(app, "EDITOR")
    response = submit(client, user=entry, text=TEXT)
    assert response.status_code == 200 and "No user has the email or id" in page(response)
    assert jobs() == [] and balance(user.id) == 5
    assert client.get(INDEX, query_string={"user_id": entry}).status_code == 200
