"""Demo blog posts: a few users have drafts or published posts on one of the topics."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from dashboard.demo.rows import Mint, Table
from dashboard.demo.vocabulary import POST_ANGLES, TOPICS


def posts_table() -> Table:
    """An empty BlogPost table for one chunk of users."""
    return Table(
        "BlogPost",
        (
            "id",
            "user_id",
            "title",
            "content",
            "original_text",
            "image_url",
            "image_prompt",
            "tokens_used",
            "character_count",
            "slug",
            "is_published",
            "published_at",
            "created_at",
            "updated_at",
        ),
    )


def post_rows(
    mint: Mint, posts: Table, user_id: str, created: datetime, *, published: bool
) -> None:
    """One post by ``user_id``, a draft or published two hours after it was written."""
    rng = mint.rng
    topic = TOPICS[rng.randrange(len(TOPICS))]
    number = mint.next_number("post")
    angle = rng.choice(POST_ANGLES)
    title = f"{topic.title()}: {angle}"
    original = (f"My notes on {topic}. " * rng.randint(20, 60)).strip()
    content = (
        f"{topic.capitalize()} rewards patience.\n\n## Why {topic} matters\n\n"
        f"Most people start {topic} with big plans.\n\n## Getting started\n\n"
        f"- Start small\n- Keep notes\n- Ask for help\n\n### A common mistake\n\n"
        f"Doing too much at once.\n"
    )
    chars = len(original)
    post_created = max(created, mint.ago(365))
    posts.rows.append(
        (
            mint.cuid("post"),
            user_id,
            title,
            content,
            original,
            None,
            None,
            math.ceil(chars / 15000),
            chars,
            f"{topic.replace(' ', '-')}-{number}" if published else None,
            published,
            post_created + timedelta(hours=2) if published else None,
            post_created,
            post_created,
        )
    )
