"""Stripe webhook events (``webhook_events``, ADMIN only): every stored delivery of
``bo_stripe_event``, read-only, newest first, with its outcome; the details page shows the
payload as escaped, indented text. "Replay" (one event from its details page, or the
selected ones as a bulk action) applies a stored event again through
``services.stripe_events.stripe_event_replay``, which audits it; the outcome is flashed.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_wtf import FlaskForm
from wtforms import HiddenField

from dashboard.admin.access import requires
from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import bool_filter, date_filters, flatten, id_filter
from dashboard.admin.json_columns import pretty_json
from dashboard.admin.listing import SearchColumn
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError
from dashboard.models import StripeEventRecord
from dashboard.permissions import Op, Tool
from dashboard.services.stripe.events import stripe_event_replay
from dashboard.services.stripe.gateway import StripeSettings

MSG_REPLAYED = "Replayed {event_id}: {outcome}"
MSG_REPLAY_FAILED = "Replay of {event_id} failed: {reason}"
MSG_BULK = "Replayed {applied} of {total} event(s)."
MSG_BULK_FAILED = "{failed} failed: {first}"
MAX_ID_LENGTH = 200
STATES = (("processed", "Processed"), ("failed", "Failed"), ("pending", "Not processed yet"))


class EventStateFilter(sqla_filters.BaseSQLAFilter):
    """Processed, failed (an error is recorded) or pending (neither)."""

    def __init__(self, name: str) -> None:
        super().__init__(StripeEventRecord.processed_at, name, options=STATES)

    def validate(self, value: Any) -> bool:
        return value in {key for key, _label in STATES}

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        table = StripeEventRecord
        if value == "processed":
            return query.filter(table.processed_at.is_not(None))
        if value == "failed":
            return query.filter(table.error.is_not(None))
        return query.filter(table.processed_at.is_(None), table.error.is_(None))

    def operation(self) -> str:
        return "is"


class ReplayForm(FlaskForm):
    id = HiddenField()


def replay_one(event_id: str) -> tuple[bool, str]:
    """Replay ``event_id``: (applied?, the message to show)."""
    try:
        receipt = stripe_event_replay(
            event_id=event_id,
            actor=current_actor(),
            settings=StripeSettings.from_config(current_app.config),
        )
    except BackofficeError as exc:
        return False, MSG_REPLAY_FAILED.format(event_id=event_id, reason=exc.message)
    if receipt.status_code >= 400:
        return False, MSG_REPLAY_FAILED.format(event_id=event_id, reason=receipt.message)
    return True, MSG_REPLAYED.format(event_id=event_id, outcome=receipt.message)


class WebhookEventView(BigTableView):
    permission_model = "StripeEvent"
    details_template = "admin/bo/webhook_event_details.html"

    column_list = (
        "received_at",
        "id",
        "type",
        "created",
        "livemode",
        "processed_at",
        "attempts",
        "error",
    )
    column_details_list = (
        "id",
        "type",
        "created",
        "livemode",
        "api_version",
        "source",
        "received_at",
        "processed_at",
        "outcome",
        "attempts",
        "error",
        "payload",
    )
    column_filters = flatten(
        id_filter(StripeEventRecord.type, "Type"),
        EventStateFilter("State"),
        bool_filter(StripeEventRecord.livemode, "Live mode"),
        date_filters(StripeEventRecord.created, "Created"),
        date_filters(StripeEventRecord.received_at, "Received"),
    )
    column_sortable_list = ()
    list_key = ("received_at", "id")
    search_columns = (SearchColumn("id", "exact"), SearchColumn("type", "exact"))
    column_labels = {
        "id": "Event",
        "created": "Created (UTC)",
        "received_at": "Received (UTC)",
        "processed_at": "Processed (UTC)",
        "livemode": "Live",
    }
    column_formatters = {
        "payload": pretty_json,
        "livemode": lambda v, c, m, n: "yes" if m.livemode else "no",
    }

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(StripeEventRecord.id == str(id)).one_or_none()

    def replay_form(self, model: StripeEventRecord) -> ReplayForm:
        return ReplayForm(formdata=None, id=model.id)

    @expose("/replay/", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.REPLAY_WEBHOOKS)
    def replay(self) -> ResponseReturnValue:
        form = ReplayForm()
        event_id = (form.id.data or "").strip()
        if not event_id or len(event_id) > MAX_ID_LENGTH or "\x00" in event_id:
            flash(MSG_REPLAY_FAILED.format(event_id="(none)", reason="no event id"), "danger")
            return redirect(url_for(".index_view"))
        applied, message = replay_one(event_id)
        flash(message, "success" if applied else "danger")
        return redirect(url_for(".details_view", id=event_id))

    @action("replay", "Replay", "Apply the selected events again?")
    @requires(Op.VIEW, tool=Tool.REPLAY_WEBHOOKS)
    def action_replay(self, ids: list[str]) -> None:
        outcomes = [replay_one(event_id) for event_id in ids]
        failures = [message for applied, message in outcomes if not applied]
        flash(MSG_BULK.format(applied=len(ids) - len(failures), total=len(ids)), "success")
        if failures:
            flash(MSG_BULK_FAILED.format(failed=len(failures), first=failures[0]), "danger")
        return None
