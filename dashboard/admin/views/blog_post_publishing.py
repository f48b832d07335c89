"""Publishing from the Blog posts view: a sanitised preview, publish / unpublish buttons
(POST with CSRF) and the same as bulk actions. Every change goes through
``services.publishing`` (slug, publishedAt, audit)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from markupsafe import Markup

from dashboard.admin.access import Requirement, requires
from dashboard.admin.bulk import (
    BulkAction,
    BulkActionsMixin,
    BulkOutcome,
    ConfirmOnlyForm,
    Selection,
)
from dashboard.admin.links import user_link
from dashboard.auth.current import current_actor
from dashboard.auth.sessions import safe_next
from dashboard.media_views import media_preview_url
from dashboard.models import BlogPost
from dashboard.permissions import Op, Tool
from dashboard.services.posts.publishing import PublishResult, posts_publish, posts_unpublish
from dashboard.services.posts.render import render_markdown

# posts_publish handles posts one by one (unique slugs): keep a bulk run short.
MAX_BULK_POSTS = 1000
PUBLISH = Requirement(ops=(Op.VIEW,), tool=Tool.PUBLISH_POST)


def _message(result: PublishResult, post: BlogPost | None = None) -> tuple[str, str]:
    """The flash for a publishing result, and its category."""
    if post is not None and len(result.refused) == 1:
        return f"“{post.title}” was not published: {next(iter(result.refused.values()))}", "danger"
    if post is not None and result.published:
        return f"“{post.title}” is published at /{post.slug}.", "success"
    if post is not None and result.unpublished:
        return f"“{post.title}” is no longer published (its slug and date are kept).", "success"
    if post is not None and result.unchanged:
        state = "published" if post.is_published else "unpublished"
        return f"“{post.title}” was already {state}; nothing changed.", "info"
    return result.summary()[:1].upper() + result.summary()[1:] + ".", (
        "warning" if result.refused else "success"
    )


class PostPublishing(BulkActionsMixin):
    bulk_actions = (
        BulkAction(
            "publish",
            "Publish",
            PUBLISH,
            ConfirmOnlyForm,
            "bulk_publish",
            explain=(
                "Each draft with a title and content goes on the public site; a post "
                "without a slug gets one from its title. Posts that cannot be are listed."
            ),
            max_rows=MAX_BULK_POSTS,
        ),
        BulkAction(
            "unpublish",
            "Unpublish",
            PUBLISH,
            ConfirmOnlyForm,
            "bulk_unpublish",
            explain="Each post leaves the public site; its slug and publication date are kept.",
            max_rows=MAX_BULK_POSTS,
            danger=True,
        ),
    )
    details_template = "admin/bo/post_details.html"

    def bulk_publish(self, selection: Selection, form: ConfirmOnlyForm) -> BulkOutcome:
        result = posts_publish(post_ids=selection.id_list(MAX_BULK_POSTS), actor=current_actor())
        return BulkOutcome(*_message(result))

    def bulk_unpublish(self, selection: Selection, form: ConfirmOnlyForm) -> BulkOutcome:
        result = posts_unpublish(post_ids=selection.id_list(MAX_BULK_POSTS), actor=current_actor())
        return BulkOutcome(*_message(result))

    def may_publish(self) -> bool:
        return self.allowed("publish")  # type: ignore[attr-defined]

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("confirm_form", ConfirmOnlyForm())
        return super().render(template, **kwargs)  # type: ignore[misc]

    def _post_or_404(self, post_id: str | None) -> BlogPost:
        post = self.get_one(post_id) if post_id and len(post_id) <= 100 else None  # type: ignore[attr-defined]
        if post is None:
            abort(404)
        return post

    @expose("/preview/")
    @requires(Op.VIEW)
    def preview(self) -> str:
        """The post as readers would see it: Markdown rendered and sanitised, the featured
        image only through Backoffice's own media URL."""
        post = self._post_or_404(request.args.get("id"))
        image_url = media_preview_url(post.image_url) if post.image_url else None
        return self.render(  # type: ignore[attr-defined]
            "admin/bo/post_preview.html",
            post=post,
            body=render_markdown(post.content),
            image_url=image_url,
            image_elsewhere=bool(post.image_url) and image_url is None,
            user_link=user_link,
        )

    def _change(self, service: Any) -> ResponseReturnValue:
        post = self._post_or_404(request.form.get("id"))
        back = safe_next(request.form.get("back")) or url_for(".details_view", id=post.id)
        if not ConfirmOnlyForm().validate_on_submit():
            flash("The form was incomplete; nothing was changed.", "danger")
            return redirect(back)
        result = service(post_ids=[post.id], actor=current_actor())
        post = self._post_or_404(post.id)
        flash(*_message(result, post))
        return redirect(back)

    @expose("/publish/", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.PUBLISH_POST)
    def publish(self) -> ResponseReturnValue:
        return self._change(posts_publish)

    @expose("/unpublish/", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.PUBLISH_POST)
    def unpublish(self) -> ResponseReturnValue:
        return self._change(posts_unpublish)

    def bulk_sample_label(self, row: Any) -> Markup:
        state = "published" if row.is_published else "draft"
        return Markup('<a href="{}">{}</a> ({})').format(
            url_for(".details_view", id=row.id), row.title, state
        )
