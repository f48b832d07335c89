"""Editorial rules for blog posts: publishing, unpublishing and hand edits.

- Publishing needs a title and content; it gives the post a slug if it has none (from the
  title, unique with -2, -3 suffixes) and sets ``publishedAt`` to now.
- Unpublishing keeps ``publishedAt`` (and the slug), so the history stays visible.
- Once a post has been published its slug never changes, whatever happens to its title.
- ``characterCount`` always follows the post's original text (``post_character_count``).
Drafts are never published by anything but a person using these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import BlogPost, utcnow
from dashboard.permissions import Tool, can
from dashboard.services.audit import audit_record
from dashboard.services.posts.generation import (
    post_character_count,
)
from dashboard.services.posts.text import (
    post_slugify,
    post_text_normalise,
    post_unique_slug,
)

ERR_NO_POST = "No blog post with id {post_id}."
ERR_NEEDS_TITLE = "A post needs a title before it can be published."
ERR_NEEDS_CONTENT = "A post needs content before it can be published."
ERR_FORBIDDEN = "Your role may not publish posts."
ERR_SLUG_FROZEN = "The slug of a post that has been published cannot change (it is {slug!r})."
ERR_SLUG_FORMAT = (
    "A slug is lowercase letters and digits joined by single hyphens, e.g. my-first-post."
)
ERR_SLUG_TAKEN = "Another post already uses the slug {slug!r}."
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass
class PublishResult:
    published: list[str] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # post id -> reason

    def summary(self) -> str:
        parts = []
        if self.published:
            parts.append(f"{len(self.published)} published")
        if self.unpublished:
            parts.append(f"{len(self.unpublished)} unpublished")
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already in that state")
        if self.refused:
            parts.append(
                f"{len(self.refused)} refused: " + "; ".join(sorted(set(self.refused.values())))
            )
        return ", ".join(parts) or "nothing to do"


def _check_actor(actor: Actor) -> None:
    if actor.role is not None and not can(actor.role, Tool.PUBLISH_POST):
        raise PermissionDenied(ERR_FORBIDDEN)


def _publish_one(post: BlogPost, actor: Actor, result: PublishResult) -> None:
    if post.is_published:
        result.unchanged.append(post.id)
        return
    if not (post.title or "").strip():
        result.refused[post.id] = ERR_NEEDS_TITLE
        return
    if not (post.content or "").strip():
        result.refused[post.id] = ERR_NEEDS_CONTENT
        return
    before = {"is_published": False, "published_at": post.published_at, "slug": post.slug}
    if not post.slug:
        post.slug = post_unique_slug(post.title, exclude_post_id=post.id)
    post.is_published = True
    post.published_at = utcnow()
    after = {"is_published": True, "published_at": post.published_at, "slug": post.slug}
    audit_record(
        actor=actor,
        action="post.publish",
        target_model="BlogPost",
        target_id=post.id,
        changes={
            name: {"before": _plain(before[name]), "after": _plain(after[name])}
            for name in before
            if before[name] != after[name]
        },
    )
    result.published.append(post.id)


def _unpublish_one(post: BlogPost, actor: Actor, result: PublishResult) -> None:
    if not post.is_published:
        result.unchanged.append(post.id)
        return
    post.is_published = False
    audit_record(
        actor=actor,
        action="post.unpublish",
        target_model="BlogPost",
        target_id=post.id,
        changes={"is_published": {"before": True, "after": False}},
    )
    result.unpublished.append(post.id)


def _plain(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _posts(post_ids: Iterable[str]) -> list[BlogPost]:
    ids = list(dict.fromkeys(post_ids))
    posts = db.session.scalars(
        sa.select(BlogPost)
        .where(BlogPost.id.in_(ids))
        .order_by(BlogPost.created_at)
        .with_for_update()
    ).all()
    if len(ids) == 1 and not posts:
        raise NotFound(ERR_NO_POST.format(post_id=ids[0]))
    return list(posts)


def posts_publish(*, post_ids: Iterable[str], actor: Actor) -> PublishResult:
    """Publish each post that can be; report the others with their reason. One
    transaction; slugs are made unique among all posts, including those published here."""
    _check_actor(actor)
    result = PublishResult()
    with unit_of_work():
        for post in _posts(post_ids):
            _publish_one(post, actor, result)
            db.session.flush()  # so the next post's unique slug sees this one's
    return result


def posts_unpublish(*, post_ids: Iterable[str], actor: Actor) -> PublishResult:
    """Take posts off the public site; publishedAt and slug are kept."""
    _check_actor(actor)
    result = PublishResult()
    with unit_of_work():
        for post in _posts(post_ids):
            _unpublish_one(post, actor, result)
    return result


def post_prepare_edit(
    post: BlogPost, *, original_slug: str | None, was_published_at: object
) -> None:
    """Apply the editorial rules to a post a person created or edited in a form, before it
    is saved (the caller commits). Raises BackofficeError with a message for the form."""
    post.title = (post.title or "").strip()
    if not post.title:
        raise BackofficeError("A post needs a title.")
    post.content = post.content or ""
    post.original_text = post_text_normalise(post.original_text or "") or post_text_normalise(
        post.content
    )
    post.character_count = post_character_count(post.original_text)
    if was_published_at is not None:
        if (post.slug or None) != original_slug:
            raise BackofficeError(ERR_SLUG_FROZEN.format(slug=original_slug))
        return
    if post.slug:
        post.slug = post.slug.strip().lower()
        if not SLUG_PATTERN.match(post.slug):
            raise BackofficeError(ERR_SLUG_FORMAT)
        with db.session.no_autoflush:  # the form's values are not saved yet
            clash = db.session.scalar(
                sa.select(BlogPost.id).where(BlogPost.slug == post.slug, BlogPost.id != post.id)
            )
        if clash:
            raise BackofficeError(ERR_SLUG_TAKEN.format(slug=post.slug))
    else:
        post.slug = None


__all__ = [
    "PublishResult",
    "post_prepare_edit",
    "post_slugify",
    "posts_publish",
    "posts_unpublish",
]
