"""Background jobs (``jobs``): a read-only list of ``bo_job``, newest first, filtered by
kind and status, with params, result and error on the details page and a link to the page
that follows the job (Resync Stripe, or the post generation).

Who sees what: the matrix grants Job VIEW to ADMIN and EDITOR. An editor's work is post
generation, so EDITOR's list and details hold only jobs of that kind (``ROLE_KINDS``); the
rows of other kinds answer 404 to them as if they did not exist.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import choice_filter, date_filters, enum_filter, flatten, id_filter
from dashboard.admin.json_columns import pretty_json
from dashboard.admin.links import user_link
from dashboard.admin.listing import SearchColumn
from dashboard.auth.current import current_role
from dashboard.models import Job, JobStatus, StaffRole
from dashboard.permissions import Tool, can
from dashboard.services.posts.generation import JOB_KIND as GENERATION_KIND
from dashboard.services.stripe.resync_jobs import JOB_KIND as RESYNC_KIND

JOB_KINDS = (RESYNC_KIND, GENERATION_KIND)
# Roles that may see only some kinds of job (others: every kind the matrix lets them view).
ROLE_KINDS: dict[StaffRole, tuple[str, ...]] = {StaffRole.EDITOR: (GENERATION_KIND,)}
# The page that follows a job of each kind: (endpoint, the tool that page needs, label).
JOB_PAGES = {
    RESYNC_KIND: ("resync.job", Tool.RESYNC_STRIPE, "Open on the Resync Stripe page"),
    GENERATION_KIND: ("generate.job", Tool.GENERATE_POST, "Open the post generation"),
}


def _subject(view: Any, context: Any, model: Job, name: str) -> Any:
    return user_link(model.subject_user_id, model.subject_user_id)


def _status(view: Any, context: Any, model: Job, name: str) -> str:
    return model.status.value


class JobView(BigTableView):
    permission_model = "Job"

    column_list = ("created_at", "kind", "status", "progress", "requested_by_label", "finished_at")
    column_details_list = (
        "id",
        "kind",
        "status",
        "progress",
        "progress_message",
        "params",
        "result",
        "error",
        "requested_by_label",
        "subject_user_id",
        "created_at",
        "started_at",
        "finished_at",
    )
    column_filters = flatten(
        choice_filter(Job.kind, "Kind", JOB_KINDS),
        enum_filter(Job.status, "Status", JobStatus),
        date_filters(Job.created_at, "Requested"),
        id_filter(Job.subject_user_id, "User id"),
    )
    column_sortable_list = ()
    list_key = ("created_at", "id")
    search_columns = (SearchColumn("id", "exact"),)
    column_labels = {
        "created_at": "Requested (UTC)",
        "finished_at": "Finished (UTC)",
        "started_at": "Started (UTC)",
        "requested_by_label": "Requested by",
        "subject_user_id": "User",
        "progress": "Progress %",
        "progress_message": "Last progress",
    }
    column_formatters = {
        "params": pretty_json,
        "result": pretty_json,
        "subject_user_id": _subject,
        "status": _status,
    }

    def _kinds(self) -> tuple[str, ...] | None:
        role = current_role()
        try:
            return ROLE_KINDS.get(StaffRole(role)) if role else ()
        except ValueError:
            return ()

    def get_query(self) -> Any:
        query = super().get_query()
        kinds = self._kinds()
        return query if kinds is None else query.filter(Job.kind.in_(kinds))

    def get_count_query(self) -> Any:
        query = super().get_count_query()
        kinds = self._kinds()
        return query if kinds is None else query.filter(Job.kind.in_(kinds))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(Job.id == str(id)).one_or_none()

    def related_links(self, model: Job) -> list[tuple[str, str]]:
        page = JOB_PAGES.get(model.kind)
        if page is None or not can(current_role(), page[1]):
            return []
        endpoint, _tool, label = page
        return [(label, url_for(endpoint, job_id=model.id))]
