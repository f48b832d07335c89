"""Resync Stripe (``resync.index``, ADMIN only through ``Tool.RESYNC_STRIPE``): a form that
queues a resync job, the job's page with live progress and its final report, and the latest
resync jobs.

Doors only: queuing (and "one at a time") is ``services.stripe_resync.stripe_resync_request``,
what a job's report says is ``services.stripe_resync_jobs``. The job page polls
``resync.job_status`` every 2 s from static/js/job_progress.js (no inline script: CSP).
"""

from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from dashboard.admin.access import requires
from dashboard.admin.base import SecureView
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound
from dashboard.permissions import Tool
from dashboard.services.stripe.gateway import StripeSettings
from dashboard.services.stripe.resync import RESYNC_TYPES, stripe_resync_request
from dashboard.services.stripe.resync_jobs import (
    COUNTS,
    ResyncJobState,
    stripe_resync_job_active,
    stripe_resync_job_state,
    stripe_resync_jobs_recent,
)

ERR_NO_TYPES = "Choose at least one type to resync; nothing was queued."
MSG_QUEUED = "Stripe resync queued ({types}{dry})."
MSG_NOT_FOUND = "No Stripe resync job with this id."


class ResyncForm(FlaskForm):
    types = SelectMultipleField(
        "Types to include",
        choices=[SelectChoice(name, name.title()) for name in RESYNC_TYPES],
        default=list(RESYNC_TYPES),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    dry_run = BooleanField("Dry run (report what would change, write nothing)")


class ResyncView(SecureView):
    """``resync.index`` (form and latest jobs), ``resync.job`` (one job and its report),
    ``resync.job_status`` (its JSON, polled while it runs)."""

    @expose("/", methods=("GET", "POST"))
    @requires(tool=Tool.RESYNC_STRIPE)
    def index(self) -> ResponseReturnValue:
        form = ResyncForm()
        if not form.is_submitted():
            return self._page(form)
        if not form.validate() or not form.types.data:
            return self._page(form, error=ERR_NO_TYPES), 400
        try:
            job = stripe_resync_request(
                actor=current_actor(),
                settings=StripeSettings.from_config(current_app.config),
                only=form.types.data,
                dry_run=form.dry_run.data,
            )
        except Conflict as exc:
            return self._page(form, conflict=exc.message), 409
        except BackofficeError as exc:
            return self._page(form, error=exc.message), exc.status_code
        dry = "; dry run" if form.dry_run.data else ""
        flash(MSG_QUEUED.format(types=", ".join(form.types.data), dry=dry), "success")
        return redirect(url_for(".job", job_id=job.id))

    def _page(
        self, form: ResyncForm, *, error: str | None = None, conflict: str | None = None
    ) -> str:
        active = stripe_resync_job_active()
        return self.render(
            "admin/bo/resync.html",
            form=form,
            error=error,
            conflict=conflict,
            active=active,
            configured=StripeSettings.from_config(current_app.config).configured,
            recent=stripe_resync_jobs_recent(),
            counts=COUNTS,
        )

    @expose("/job/<job_id>")
    @requires(tool=Tool.RESYNC_STRIPE)
    def job(self, job_id: str) -> ResponseReturnValue:
        state = _state_or_404(job_id)
        return self.render(
            "admin/bo/resync_job.html",
            state=state,
            job=state.job,
            counts=COUNTS,
            status_url=url_for(".job_status", job_id=state.job.id),
        )

    @expose("/job/<job_id>/status")
    @requires(tool=Tool.RESYNC_STRIPE)
    def job_status(self, job_id: str) -> ResponseReturnValue:
        try:
            state = stripe_resync_job_state(job_id)
        except NotFound:
            return jsonify(error=MSG_NOT_FOUND), 404
        job = state.job
        return jsonify(
            id=job.id,
            status=job.status.value,
            progress=job.progress,
            progress_message=job.progress_message or "",
            finished=state.finished,
            ok=state.ok,
            error=job.error,
            job_url=url_for(".job", job_id=job.id),
        )


def _state_or_404(job_id: str) -> ResyncJobState:
    try:
        return stripe_resync_job_state(job_id)
    except NotFound:
        abort(404)
