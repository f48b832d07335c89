"""Editorial publishing rules."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, PermissionDenied
from dashboard.extensions import db
from dashboard.models import AuditLog, BlogPost
from dashboard.services.posts.publishing import (
    ERR_NEEDS_CONTENT,
    ERR_SLUG_FROZEN,
    post_prepare_edit,
    posts_publish,
    posts_unpublish,
)
from tests.factories import make_post, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")
EDITOR = Actor(label="staff:editor@example.com", staff_id="s-ed", role="EDITOR")


def test_publishing_sets_slug_and_date_and_is_audited(app):
    post = make_post(make_user(), title="Crème Brûlée: A Guide!", slug=None)
    db.session.commit()
    result = posts_publish(post_ids=[post.id], actor=EDITOR)
    assert result.published == [post.id]
    db.session.refresh(post)
    assert post.is_published and post.published_at is not None
    assert post.slug == "creme-brulee-a-guide"
    entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "post.publish")).one()
    assert entry.target_id == post.id and entry.changes["slug"]["after"] == "creme-brulee-a-guide"


def test_duplicate_titles_get_numbered_slugs_even_in_one_bulk_publish(app):
    user = make_user()
    posts = [make_post(user, title="Same Title") for _ in range(3)]
    make_post(user, title="Other", slug="same-title", is_published=True)
    db.session.commit()
    result = posts_publish(post_ids=[p.id for p in posts], actor=EDITOR)
    assert len(result.published) == 3
    slugs = sorted(
        db.session.scalars(sa.select(BlogPost.slug).where(BlogPost.id.in_([p.id for p in posts])))
    )
    assert slugs == ["same-title-2", "same-title-3", "same-title-4"]


def test_posts_without_content_are_refused_and_others_still_published(app):
    user = make_user()
    good = make_post(user, title="Good")
    empty = make_post(user, title="Empty", content="   ")
    db.session.commit()
    result = posts_publish(post_ids=[good.id, empty.id], actor=EDITOR)
    assert result.published == [good.id]
    assert result.refused == {empty.id: ERR_NEEDS_CONTENT}
    assert "1 published" in result.summary() and "1 refused" in result.summary()
    db.session.refresh(empty)
    assert not empty.is_published and empty.slug is None


def test_unpublish_keeps_published_at_and_slug_and_republish_keeps_slug(app):
    post = make_post(make_user(), title="Keep Me")
    db.session.commit()
    posts_publish(post_ids=[post.id], actor=EDITOR)
    db.session.refresh(post)
    first_date, slug = post.published_at, post.slug
    assert posts_unpublish(post_ids=[post.id], actor=EDITOR).unpublished == [post.id]
    db.session.refresh(post)
    assert not post.is_published and post.published_at == first_date and post.slug == slug
    post.title = "A Completely New Title"
    db.session.commit()
    posts_publish(post_ids=[post.id], actor=EDITOR)
    db.session.refresh(post)
    assert post.slug == slug


def test_publishing_twice_is_a_no_op(app):
    post = make_post(make_user())
    db.session.commit()
    posts_publish(post_ids=[post.id], actor=EDITOR)
    again = posts_publish(post_ids=[post.id], actor=EDITOR)
    assert again.unchanged == [post.id] and again.published == []
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(AuditLog.action == "post.publish")) == 1
    )


def test_support_may_not_publish(app):
    post = make_post(make_user())
    db.session.commit()
    with pytest.raises(PermissionDenied):
        posts_publish(post_ids=[post.id], actor=Actor(label="s", staff_id="x", role="SUPPORT"))
    db.session.refresh(post)
    assert not post.is_published


def test_edit_rules_keep_a_published_slug_and_count_characters(app):
    post = make_post(make_user(), title="Old", original_text="ab\r\ncd")
    db.session.commit()
    posts_publish(post_ids=[post.id], actor=EDITOR)
    db.session.refresh(post)
    published_at, slug = post.published_at, post.slug
    post.title = "New title"
    post_prepare_edit(post, original_slug=slug, was_published_at=published_at)
    assert post.slug == slug and post.character_count == 5  # "ab\ncd"
    post.slug = "changed"
    with pytest.raises(BackofficeError, match="cannot change"):
        post_prepare_edit(post, original_slug=slug, was_published_at=published_at)
    assert ERR_SLUG_FROZEN.startswith("The slug")


@pytest.mark.parametrize("slug", ["Has Spaces", "-lead", "trail-", "a--b", "ünï", "x/y"])
def test_draft_slugs_must_be_well_formed(app, slug):
    post = make_post(make_user())
    post.slug = slug
    with pytest.raises(BackofficeError):
        post_prepare_edit(post, original_slug=None, was_published_at=None)


def test_draft_slug_must_be_unique(app):
    user = make_user()
    make_post(user, slug="taken")
    post = make_post(user)
    post.slug = "taken"
    with pytest.raises(BackofficeError, match="already uses"):
        post_prepare_edit(post, original_slug=None, was_published_at=None)
