"""The audit trail, read-only for everyone (the matrix grants no create, edit or delete on
AuditLog to any role, and the database refuses UPDATE/DELETE anyway)."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape

from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.links import user_link
from dashboard.models import AuditLog


def _as_json(view: Any, context: Any, model: AuditLog, name: str) -> Markup:
    value = getattr(model, name)
    if not value:
        return Markup("")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return Markup("<pre>") + escape(text) + Markup("</pre>")


def _target(view: Any, context: Any, model: AuditLog, name: str) -> Markup | str:
    if model.target_model == "User" and model.target_id:
        return user_link(model.target_id, model.target_id)
    return model.target_id or ""


class AuditLogView(BigTableView):
    permission_model = "AuditLog"
    allow_export = True
    # Ids grow with time: the primary key is the newest-first order.
    list_key = ("id",)

    column_list = (
        "created_at",
        "actor_label",
        "action",
        "target_model",
        "target_id",
        "reason",
        "ip",
    )
    column_details_list = (
        "id",
        "created_at",
        "actor_label",
        "actor_staff_id",
        "action",
        "target_model",
        "target_id",
        "changes",
        "details",
        "reason",
        "ip",
        "user_agent",
    )
    column_export_list = column_details_list
    column_filters = ("actor_label", "action", "target_model", "target_id", "created_at")
    column_labels = {
        "created_at": "When (UTC)",
        "actor_label": "Actor",
        "target_model": "Model",
        "target_id": "Record",
        "ip": "From",
    }
    column_formatters = {"changes": _as_json, "details": _as_json, "target_id": _target}
    column_formatters_export = {
        "target_id": lambda v, c, m, n: m.target_id or "",
        "changes": lambda v, c, m, n: json.dumps(m.changes, default=str) if m.changes else "",
        "details": lambda v, c, m, n: json.dumps(m.details, default=str) if m.details else "",
    }

    def history(self, model: Any) -> None:
        return None  # an audit row has no history of its own
