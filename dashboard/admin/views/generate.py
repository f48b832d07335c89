"""Generate post: an editor turns a customer's text into a draft post, and follows the job.

Doors only: every figure and rule comes from ``dashboard.services.posts.generation``
(characters, cost, preview, start, retry) and ``dashboard.services.posts.generation_status``
(a job's state, the latest jobs). The characters and cost the page's script shows while
typing use the same definition as the server, but the server's figures (Check cost, and the
charge itself) are the ones that count.

Each rendered form carries a fresh idempotency key (uuid4); the service turns a second
submission of the same form (a double click, a resent POST) into the first one's job, so
it never creates two jobs or two charges.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import (
    BooleanField,
    FileField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from dashboard.admin.access import requires
from dashboard.admin.base import SecureView
from dashboard.admin.links import model_details_url, user_link
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.media_views import media_preview_url
from dashboard.permissions import Tool
from dashboard.services.posts.ai import TONES, AiSettings, GenerationOptions
from dashboard.services.posts.generation import (
    CHARACTERS_PER_TOKEN,
    MAX_CHARACTERS,
    GenerationPreview,
    GenerationStarted,
    post_generation_preview,
    post_generation_retry,
    post_generation_start,
)
from dashboard.services.posts.generation_status import (
    GenerationState,
    post_generation_state,
    post_generations_recent,
)
from dashboard.services.posts.render import render_markdown
from dashboard.services.posts.text import (
    UPLOAD_MAX_BYTES,
    post_text_from_upload,
)
from dashboard.services.user_lookup import user_resolve

# A form (text and fields, not the file) may hold this much: enough for any text up to
# MAX_CHARACTERS (4 UTF-8 bytes each at most), so an over-long text gets the service's
# "too long" message with its count rather than a bare 413.
FORM_MEMORY_BYTES = 4 * MAX_CHARACTERS + 1_000_000
# The whole request, file included: files a little over the upload limit still get the
# service's message naming their size; anything bigger is refused before it is read.
REQUEST_MAX_BYTES = 8 * UPLOAD_MAX_BYTES
MSG_TOO_LARGE = (
    "The submission was too large and was not read: a file may have at most {limit:,} bytes "
    "and a text at most {characters:,} characters. Nothing was charged."
)
MSG_STARTED = "Generating a post for {email}: {characters:,} characters, {cost} token{s} charged."
MSG_SEEN = (
    "This form had already been submitted: here is the generation it started. "
    "Nothing more was charged."
)
MSG_RETRY = "Retrying as a new generation for {email}: {cost} token{s} charged."
MSG_NOT_FOUND = "No post generation with this id."
ACTION_CHECK = "check"
ACTION_GENERATE = "generate"


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def new_submission_key() -> str:
    return str(uuid.uuid4())


class GenerateForm(FlaskForm):
    user = StringField("Customer (email or user id)")
    text = TextAreaField("The customer's text")
    upload = FileField("…or upload a .txt or .md file (UTF-8, at most 1 MB)")
    image = BooleanField("Draw a featured image", default=True)
    keywords = StringField("Target keywords (comma-separated, optional)")
    tone = SelectField("Tone", choices=[SelectChoice(tone, tone.title()) for tone in TONES])
    key = HiddenField()


class RetryForm(FlaskForm):
    key = HiddenField()


class GenerateView(SecureView):
    """``generate.index`` (the form and the latest jobs), ``generate.job`` (one job),
    ``generate.job_status`` (its JSON, polled by static/js/job_poll.js), ``generate.retry``."""

    def create_blueprint(self, admin: Any) -> Any:
        blueprint = super().create_blueprint(admin)
        # URL value preprocessors run before the app's before_request hooks, i.e. before
        # CSRFProtect parses the form: the limits must be in place by then.
        blueprint.url_value_preprocessor(_request_limits)
        blueprint.register_error_handler(RequestEntityTooLarge, _too_large)
        return blueprint

    # -- the Generate page --------------------------------------------------------------------

    @expose("/", methods=("GET", "POST"))
    @requires(tool=Tool.GENERATE_POST)
    def index(self) -> ResponseReturnValue:
        form = GenerateForm()
        errors: dict[str, str] = {}
        if request.method == "GET":
            user = None
            if request.args.get("user_id"):
                user = self._resolve(request.args["user_id"], errors)
                form.user.data = user.email if user else request.args["user_id"]
            preview = self._preview(user, "") if user else None
            return self._page(form, user=user, preview=preview, errors=errors, quiet=True)

        user = self._resolve(form.user.data, errors)
        text = self._text(form, errors)
        options = self._options(form, errors)
        preview = self._preview(user, text) if user else None
        if request.form.get("action") != ACTION_GENERATE or errors:
            return self._page(form, user=user, preview=preview, errors=errors)
        try:
            started = post_generation_start(
                user_id=user.id,
                text=text,
                options=options,
                idempotency_key=form.key.data,
                actor=current_actor(),
                ai=AiSettings.from_config(current_app.config),
            )
        except BackofficeError as exc:
            errors["form"] = exc.message
            return self._page(form, user=user, preview=preview, errors=errors)
        flash(_started_message(started, user.email), "success")
        return redirect(url_for(".job", job_id=started.job.id))

    def _resolve(self, query: str | None, errors: dict[str, str]) -> Any:
        try:
            return user_resolve(query or "")
        except BackofficeError as exc:
            errors["user"] = exc.message
            return None

    def _text(self, form: GenerateForm, errors: dict[str, str]) -> str:
        """The pasted text, or the uploaded file's, which then replaces it in the form."""
        upload = form.upload.data
        if upload is not None and getattr(upload, "filename", None):
            try:
                form.text.data = post_text_from_upload(filename=upload.filename, data=upload.read())
            except BackofficeError as exc:
                errors["upload"] = exc.message
        return form.text.data or ""

    def _options(self, form: GenerateForm, errors: dict[str, str]) -> GenerationOptions | None:
        try:
            return GenerationOptions.parse(
                {"image": form.image.data, "keywords": form.keywords.data, "tone": form.tone.data}
            )
        except BackofficeError as exc:
            errors["options"] = exc.message
            return None

    def _preview(self, user: Any, text: str) -> GenerationPreview | None:
        try:
            return post_generation_preview(
                user_id=user.id, text=text, ai=AiSettings.from_config(current_app.config)
            )
        except NotFound:  # deleted between the lookup and now
            return None

    def _page(
        self,
        form: GenerateForm,
        *,
        user: Any,
        preview: GenerationPreview | None,
        errors: dict[str, str],
        quiet: bool = False,
    ) -> str:
        # A key per rendered form: both submissions of one page (a double click, a resend)
        # carry the same key, and a page rendered after a refusal starts afresh.
        form.key.data = new_submission_key()
        problem = preview.problem if preview else None
        if quiet and preview is not None and preview.characters == 0:
            problem = None  # a fresh page is not "empty text" yet
        return self.render(
            "admin/bo/generate.html",
            form=form,
            user=user,
            user_link=user_link(user.id, user.email) if user else None,
            preview=preview,
            problem=problem,
            errors=errors,
            configured=AiSettings.from_config(current_app.config).configured,
            characters_per_token=CHARACTERS_PER_TOKEN,
            max_characters=MAX_CHARACTERS,
            recent=post_generations_recent(),
            user_link_for=user_link,
        )

    # -- one job ------------------------------------------------------------------------------

    @expose("/job/<job_id>")
    @requires(tool=Tool.GENERATE_POST)
    def job(self, job_id: str) -> ResponseReturnValue:
        state = _state_or_404(job_id)
        post = state.post
        return self.render(
            "admin/bo/generate_job.html",
            state=state,
            user_link=user_link(state.user_id, state.user_email),
            status_url=url_for(".job_status", job_id=state.job_id),
            post_url=model_details_url("blog_posts", post.id) if post else None,
            image_url=media_preview_url(post.image_url) if post else None,
            body_html=render_markdown(post.content) if post else None,
            retry_form=RetryForm(key=new_submission_key()),
            retry_of_url=url_for(".job", job_id=state.retry_of) if state.retry_of else None,
        )

    @expose("/job/<job_id>/status")
    @requires(tool=Tool.GENERATE_POST)
    def job_status(self, job_id: str) -> ResponseReturnValue:
        try:
            state = post_generation_state(job_id)
        except NotFound:
            return jsonify(error=MSG_NOT_FOUND), 404
        post_url = model_details_url("blog_posts", state.post_id) if state.post_id else None
        return jsonify(
            id=state.job_id,
            status=state.status.value,
            progress_word=state.word,
            progress=state.progress,
            finished=state.finished,
            error=state.error,
            refunded_tokens=state.refunded,
            cost=state.cost,
            post_id=state.post_id,
            post_url=post_url,
            job_url=url_for(".job", job_id=state.job_id),
        )

    @expose("/job/<job_id>/retry", methods=("POST",))
    @requires(tool=Tool.GENERATE_POST)
    def retry(self, job_id: str) -> ResponseReturnValue:
        form = RetryForm()
        try:
            post_generation_state(job_id)  # an id the database cannot even look up is a 404
            started = post_generation_retry(
                job_id=job_id,
                actor=current_actor(),
                idempotency_key=form.key.data or "",
                ai=AiSettings.from_config(current_app.config),
            )
        except NotFound as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".index"))
        except BackofficeError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".job", job_id=job_id))
        state = post_generation_state(started.job.id)
        if started.created:
            message = MSG_RETRY.format(
                email=state.user_email, cost=started.cost, s=_plural(started.cost)
            )
        else:
            message = MSG_SEEN
        flash(message, "success")
        return redirect(url_for(".job", job_id=started.job.id))


def _started_message(started: GenerationStarted, email: str) -> str:
    if not started.created:
        return MSG_SEEN
    return MSG_STARTED.format(
        email=email, characters=started.characters, cost=started.cost, s=_plural(started.cost)
    )


def _state_or_404(job_id: str) -> GenerationState:
    try:
        return post_generation_state(job_id)
    except NotFound:
        abort(404)


def _request_limits(endpoint: str | None, values: dict[str, Any] | None) -> None:
    request.max_form_memory_size = FORM_MEMORY_BYTES
    request.max_content_length = REQUEST_MAX_BYTES


def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    flash(MSG_TOO_LARGE.format(limit=UPLOAD_MAX_BYTES, characters=MAX_CHARACTERS), "danger")
    user_id = request.args.get("user_id")
    return redirect(url_for("generate.index", **({"user_id": user_id} if user_id else {})))
