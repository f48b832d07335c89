"""The Blog posts view: hand-written posts for any user, slug and characterCount rules
through the form, publish / unpublish buttons, and a preview that renders Markdown safely."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import BlogPost
from dashboard.services.posts import publishing
from tests.admin.views_helpers import audit, post, signed_in, text
from tests.factories import make_post, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")

INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element of ``html`` (tag and attributes), as a browser's parser sees them."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collector().feed("<div " + html)
    return found


def form(author, **values) -> dict:
    return {
        "user": author.id,
        "title": "My first post",
        "slug": "",
        "content": "## Hello\n\nWorld.",
        "original_text": "",
        "meta_description": "",
        "image_alt": "",
        **values,
    }


def stored(post_id: str) -> BlogPost:
    db.session.expire_all()
    return db.session.get(BlogPost, post_id)


def test_an_editor_writes_a_post_for_any_customer(app):
    author = make_user(email="customer@example.com")
    client = signed_in(app, "EDITOR")
    response = post(client, "/admin/blog_posts/new/", form(author, original_text="Ünïcode\r\ntext"))
    assert response.status_code == 302
    created = db.session.scalar(sa.select(BlogPost).where(BlogPost.user_id == author.id))
    assert created.title == "My first post" and not created.is_published
    assert created.original_text == "Ünïcode\ntext" and created.character_count == 12
    assert created.slug is None and created.tokens_used == 0
    [row] = audit("model.create")
    assert row.target_id == created.id and row.actor_staff_id == client.staff.id


def test_character_count_follows_the_content_when_there_is_no_original_text(app):
    author = make_user()
    client = signed_in(app, "EDITOR")
    post(client, "/admin/blog_posts/new/", form(author, content="  abc  "))
    created = db.session.scalar(sa.select(BlogPost).where(BlogPost.user_id == author.id))
    assert created.original_text == "abc" and created.character_count == 3


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Not A Slug!", publishing.ERR_SLUG_FORMAT),
        ("double--hyphen", publishing.ERR_SLUG_FORMAT),
        ("-leading", publishing.ERR_SLUG_FORMAT),
        ("taken-slug", "Another post already uses the slug &#39;taken-slug&#39;."),
    ],
)
def test_bad_slugs_are_refused_with_a_clear_message(app, slug, message):
    author = make_user()
    make_post(author, slug="taken-slug")
    client = signed_in(app, "EDITOR")
    response = post(client, "/admin/blog_posts/new/", form(author, title="Unique", slug=slug))
    assert response.status_code == 200
    page = text(response)
    assert message in page
    assert 'class="form-control is-invalid"' in page or "invalid-feedback" in page
    assert db.session.scalar(sa.select(BlogPost).where(BlogPost.title == "Unique")) is None


def test_a_slug_is_lowercased_and_kept(app):
    author = make_user()
    client = signed_in(app, "EDITOR")
    post(client, "/admin/blog_posts/new/", form(author, slug="My-Slug-2"))
    assert (
        db.session.scalar(sa.select(BlogPost.slug).where(BlogPost.user_id == author.id))
        == "my-slug-2"
    )


def test_publishing_gives_a_slug_which_never_changes_afterwards(app):
    author = make_user()
    make_post(author, title="Same title", slug="same-title")
    draft = make_post(author, title="Same title")
    db.session.commit()
    client = signed_in(app, "EDITOR")
    response = post(client, "/admin/blog_posts/publish/", {"id": draft.id})
    assert response.status_code == 302
    assert "“Same title” is published at /same-title-2." in text(client.get(response.location))
    assert stored(draft.id).slug == "same-title-2" and stored(draft.id).published_at

    # Editing the title keeps the slug; editing the slug is refused.
    edit = form(author, title="A new title", slug="same-title-2")
    assert post(client, "/admin/blog_posts/edit/", edit, id=draft.id).status_code == 302
    assert (stored(draft.id).title, stored(draft.id).slug) == ("A new title", "same-title-2")
    response = post(client, "/admin/blog_posts/edit/", {**edit, "slug": "other"}, id=draft.id)
    assert response.status_code == 200
    assert "cannot change (it is &#39;same-title-2&#39;)" in text(response)
    assert stored(draft.id).slug == "same-title-2"

    # Unpublishing keeps slug and date; the slug stays frozen.
    published_at = stored(draft.id).published_at
    post(client, "/admin/blog_posts/unpublish/", {"id": draft.id})
    after = stored(draft.id)
    assert not after.is_published and after.published_at == published_at
    response = post(client, "/admin/blog_posts/edit/", {**edit, "slug": ""}, id=draft.id)
    assert response.status_code == 200 and stored(draft.id).slug == "same-title-2"
    assert [row.action for row in audit("post.publish") + audit("post.unpublish")] == [
        "post.publish",
        "post.unpublish",
    ]


def test_publishing_needs_a_title_and_content(app):
    draft = make_post(make_user(), title="Empty body", content="")
    db.session.commit()
    client = signed_in(app, "EDITOR")
    response = post(client, "/admin/blog_posts/publish/", {"id": draft.id})
    assert publishing.ERR_NEEDS_CONTENT in text(client.get(response.location))
    assert not stored(draft.id).is_published


def test_support_may_preview_but_not_publish(app):
    draft = make_post(make_user())
    db.session.commit()
    client = signed_in(app, "SUPPORT")
    assert client.get(f"/admin/blog_posts/preview/?id={draft.id}").status_code == 200
    assert post(client, "/admin/blog_posts/publish/", {"id": draft.id}).status_code == 403
    details = text(client.get(f"/admin/blog_posts/details/?id={draft.id}"))
    assert 'id="post-preview"' in details and 'id="post-publish"' not in details
    assert not stored(draft.id).is_published


PAYLOADS = [
    "<script>alert(1)</script>",
    '<iframe src="https://evil.example/"></iframe>',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "![tracker](https://evil.example/pixel.png)",
    '<img src="https://evil.example/x.png" onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
    "<style>body{display:none}</style>",
]


def test_the_preview_renders_markdown_sanitised(app):
    content = (
        "# Title in body\n\nSome **bold** and [a link](https://example.com).\n\n"
        + "\n\n".join(PAYLOADS)
    )
    draft = make_post(make_user(), title="<b>Tricky</b> title", content=content)
    db.session.commit()
    response = signed_in(app, "EDITOR").get(f"/admin/blog_posts/preview/?id={draft.id}")
    assert response.status_code == 200
    page = text(response)
    body = page[page.index('id="preview-body"') : page.index("</article>")]
    assert "<strong>bold</strong>" in body and "<h2>Title in body</h2>" in body
    assert 'href="https://example.com"' in body and 'rel="noopener noreferrer nofollow"' in body
    # Raw HTML is shown as text, never as markup; no link goes anywhere but https.
    tags = elements(body)
    assert {tag for tag, _ in tags} <= {"div", "h2", "p", "strong", "a"}
    attributes = [(tag, name, value) for tag, attrs in tags for name, value in attrs]
    assert [value for tag, name, value in attributes if name == "href"] == ["https://example.com"]
    assert {name for _, name, _ in attributes} <= {"id", "href", "rel"}
    assert "evil.example/pixel" not in body
    assert not INLINE_HANDLER.search(page)
    assert "&lt;b&gt;Tricky&lt;/b&gt; title" in page
    assert f'href="/admin/customer/{draft.user_id}"' in page  # the customer, linked


def test_the_featured_image_comes_only_from_backoffices_media(app):
    author = make_user()
    local = make_post(
        author, image_url="/media/2026/01/post-0123456789abcdef.png", image_alt="A cat"
    )
    outside = make_post(author, image_url="https://evil.example/x.png")
    db.session.commit()
    client = signed_in(app, "EDITOR")
    page = text(client.get(f"/admin/blog_posts/preview/?id={local.id}"))
    assert '<img src="/media/2026/01/post-0123456789abcdef.png" alt="A cat"' in page
    page = text(client.get(f"/admin/blog_posts/preview/?id={outside.id}"))
    assert "evil.example" not in page and 'id="preview-image-elsewhere"' in page


def test_preview_and_confirmation_pages_obey_the_csp(app):
    draft = make_post(make_user())
    db.session.commit()
    client = signed_in(app, "ADMIN")
    for path in (
        f"/admin/blog_posts/preview/?id={draft.id}",
        f"/admin/blog_posts/details/?id={draft.id}",
        "/admin/blog_posts/bulk/?bulk=publish",
        "/admin/users/bulk/?bulk=grant_tokens",
        "/admin/blog_posts/new/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        nonce = re.search(r"'nonce-([\w-]+)'", response.headers["Content-Security-Policy"]).group(1)
        page = text(response)
        assert not INLINE_HANDLER.search(page) and " style=" not in page, path
        for attributes in re.findall(r"<script\b([^>]*)>", page):
            assert f'nonce="{nonce}"' in attributes, path


@pytest.mark.parametrize("post_id", ["missing", "x" * 500, ""])
def test_unknown_posts_are_404(app, post_id):
    client = signed_in(app, "EDITOR")
    assert client.get("/admin/blog_posts/preview/", query_string={"id": post_id}).status_code == 404
    assert post(client, "/admin/blog_posts/publish/", {"id": post_id}).status_code == 404
