"""Blog posts (schema.prisma: BlogPost, whose columns are snake_case through @map)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.models.base import (
    BO_TABLE_ARGS,
    Base,
    Json,
    Timestamp,
    cuid,
    foreign_key,
    unique_index,
    utcnow,
)

if TYPE_CHECKING:
    from dashboard.models.users import User


class PostSeo(Base):
    """What post generation writes besides the post itself: meta description, keywords and
    image alt text. A Backoffice table keyed by the post (no columns are added to the seed
    application's BlogPost); the row goes when the post does, whoever deletes it."""

    __tablename__ = "bo_post_seo"
    __table_args__ = (BO_TABLE_ARGS,)

    post_id: Mapped[str] = mapped_column(
        sa.Text, foreign_key("BlogPost.id", ondelete="CASCADE"), primary_key=True
    )
    meta_description: Mapped[str | None] = mapped_column(sa.Text)
    keywords: Mapped[list[Any] | None] = mapped_column(Json)  # primary first
    image_alt: Mapped[str | None] = mapped_column(sa.Text)


class _SeoField:
    """A BlogPost attribute stored in its ``bo_post_seo`` row: reads None without a row,
    and a write makes the row when there is none (writing None then changes nothing), so
    services, forms and templates use ``post.meta_description`` as if it were a column."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, post: BlogPost | None, owner: type | None = None) -> Any:
        if post is None:
            return self
        return None if post.seo is None else getattr(post.seo, self.name)

    def __set__(self, post: BlogPost, value: Any) -> None:
        if post.seo is None:
            if value is None:
                return
            post.seo = PostSeo()
        setattr(post.seo, self.name, value)


class BlogPost(Base):
    __tablename__ = "BlogPost"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="BlogPost_pkey"),
        unique_index("BlogPost", "slug"),
        sa.Index("bo_post_created_at_idx", "created_at", "id"),
        sa.Index("bo_post_published_idx", "is_published", "published_at"),
        sa.Index("bo_post_user_id_idx", "user_id", "created_at"),
        # Title prefix search (migration 0008, PostgreSQL only).
        sa.Index("bo_post_title_pattern_idx", sa.text("lower(title) text_pattern_ops")),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    user_id: Mapped[str] = mapped_column(
        "user_id", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column("title", sa.Text, nullable=False)
    content: Mapped[str] = mapped_column("content", sa.Text, nullable=False)
    original_text: Mapped[str] = mapped_column("original_text", sa.Text, nullable=False)
    image_url: Mapped[str | None] = mapped_column("image_url", sa.Text)
    image_prompt: Mapped[str | None] = mapped_column("image_prompt", sa.Text)
    tokens_used: Mapped[int] = mapped_column(
        "tokens_used", sa.Integer, nullable=False, default=1, server_default=sa.text("1")
    )
    character_count: Mapped[int] = mapped_column("character_count", sa.Integer, nullable=False)
    slug: Mapped[str | None] = mapped_column("slug", sa.Text)
    is_published: Mapped[bool] = mapped_column(
        "is_published", sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    published_at: Mapped[datetime | None] = mapped_column("published_at", Timestamp)
    created_at: Mapped[datetime] = mapped_column(
        "created_at",
        Timestamp,
        nullable=False,
        default=utcnow,
        server_default=sa.text("CURRENT_TIMESTAMP"),
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updated_at", Timestamp, nullable=False, default=utcnow, onupdate=utcnow
    )

    user: Mapped[User] = relationship(back_populates="blog_posts")
    # Backoffice's generation fields, in bo_post_seo (migration 0012).
    seo: Mapped[PostSeo | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, single_parent=True
    )
    meta_description = _SeoField()
    keywords = _SeoField()
    image_alt = _SeoField()

    def __str__(self) -> str:
        return self.title
