"""Blog posts: the editorial view. Editors find drafts, preview them rendered safely,
publish and unpublish them (one at a time or in bulk), and write or edit posts by hand for
any user. The rules (slug, characterCount, what publishing needs) are in
``services.publishing``; ``is_published``, ``published_at``, ``tokens_used`` and
``character_count`` are never form fields, so only those rules change them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer, joinedload
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import bool_filter, date_filters, flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.admin.lookups import UserLookup
from dashboard.admin.views.blog_post_publishing import PostPublishing
from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import BlogPost
from dashboard.services.posts import publishing

# Which form field a refusal of ``post_prepare_edit`` belongs to, by its message's start.
FIELD_OF_ERROR = (
    (publishing.ERR_SLUG_FROZEN.split("{")[0], "slug"),
    (publishing.ERR_SLUG_FORMAT[:20], "slug"),
    (publishing.ERR_SLUG_TAKEN.split("{")[0], "slug"),
    ("A post needs a title", "title"),
)


def _field_for(message: str) -> str | None:
    return next((field for start, field in FIELD_OF_ERROR if message.startswith(start)), None)


class BlogPostView(PostPublishing, BigTableView):
    permission_model = "BlogPost"
    allow_create = allow_edit = allow_delete = True
    allow_export = True

    column_list = ("title", "user", "is_published", "published_at", "created_at")
    column_details_list = (
        "id",
        "title",
        "slug",
        "user",
        "is_published",
        "published_at",
        "character_count",
        "tokens_used",
        "meta_description",
        "keywords",
        "image_alt",
        "image_url",
        "created_at",
        "updated_at",
        "content",
    )
    column_export_list = (
        "id",
        "title",
        "slug",
        "user_id",
        "user.email",
        "is_published",
        "published_at",
        "character_count",
        "tokens_used",
        "created_at",
    )
    column_sortable_list = ("created_at",)
    column_filters = flatten(
        bool_filter(BlogPost.is_published, "Published"),
        date_filters(BlogPost.published_at, "Published on"),
        date_filters(BlogPost.created_at, "Created"),
        date_filters(BlogPost.updated_at, "Updated"),
        id_filter(BlogPost.user_id, "User id"),
    )
    list_key = ("created_at", "id")
    search_columns = (
        SearchColumn("id", "exact"),
        SearchColumn("slug", "exact"),
        SearchColumn("title", substring=False),
        user_email(),
    )
    column_labels = {
        "is_published": "Published",
        "published_at": "Published on (UTC)",
        "created_at": "Created (UTC)",
        "character_count": "Characters",
        "image_url": "Image",
        "image_alt": "Image alt text",
        "user": "Customer",
        "user.email": "Customer email",
    }
    column_formatters = {
        "title": columns.own_details_link("title"),
        "user": columns.user,
        "is_published": columns.yes_no,
    }
    column_formatters_detail = {"user": columns.user, "is_published": columns.yes_no}

    form_columns = (
        "user",
        "title",
        "slug",
        "content",
        "original_text",
        "meta_description",
        "image_alt",
    )
    form_ajax_refs = {"user": UserLookup("user")}
    # A draft may be empty for now; publishing requires content (services.publishing). The
    # generation fields live in bo_post_seo (models.posts.PostSeo): plain fields here, read
    # from and written to the post's attributes of the same names.
    form_extra_fields = {
        "meta_description": TextAreaField("Meta description", validators=[Length(max=300)]),
        "image_alt": TextAreaField("Image alt text", validators=[Length(max=300)]),
        "content": TextAreaField("Content (Markdown)", validators=[Optional()]),
        "original_text": TextAreaField(
            "Original text",
            validators=[Optional()],
            description="The customer's text; empty means the content. Characters are "
            "counted from it.",
        ),
    }
    form_args = {
        "user": {"label": "Customer", "validators": [DataRequired()]},
        "title": {"validators": [DataRequired(), Length(max=200)]},
        "slug": {
            "validators": [Length(max=100)],
            "description": "Empty: made from the title when published. Fixed once published.",
        },
    }
    form_widget_args = {"content": {"rows": 16}, "original_text": {"rows": 6}}

    def get_query(self) -> Any:
        # The list never shows the (possibly very long) texts: leave them in the database.
        return (
            super()
            .get_query()
            .options(
                joinedload(BlogPost.user, innerjoin=True),
                defer(BlogPost.content),
                defer(BlogPost.original_text),
                defer(BlogPost.image_prompt),
            )
        )

    def get_one(self, id: Any) -> Any:
        return db.session.scalar(
            sa.select(BlogPost)
            .options(joinedload(BlogPost.user), joinedload(BlogPost.seo))
            .where(BlogPost.id == id)
        )

    def on_model_change(self, form: Any, model: BlogPost, is_created: bool) -> None:
        if is_created:
            original_slug, was_published_at = None, None
            model.tokens_used = 0  # written by hand: no tokens were spent
        else:
            history = sa.inspect(model).attrs.slug.history
            original_slug = (history.deleted or history.unchanged or [None])[0]
            was_published_at = model.published_at
        try:
            publishing.post_prepare_edit(
                model, original_slug=original_slug, was_published_at=was_published_at
            )
        except BackofficeError as exc:
            field = _field_for(exc.message)
            if field and field in form:
                form[field].errors = [*form[field].errors, exc.message]
            raise ValidationError(exc.message) from None
