"""The two base classes every admin view derives from. Read this before writing a view.

``SecureView`` (custom pages) and ``SecureModelView`` (a model's list/details/forms) deny
everything unless the permission matrix (``dashboard.permissions``) grants it to the
signed-in staff member's role; anonymous visitors go to sign-in, others get 403.

A model view is declarative::

    class PostView(SecureModelView):
        permission_model = "BlogPost"          # its name in permissions.MODELS
        allow_edit = True                      # what the view offers at most ...
        column_list = ("title", "published", "created_at")       # explicit allowlists:
        column_details_list = ("id", "title", "content", ...)    # required, and checked
        form_columns = ("title", "content")                      # for secret columns
        column_searchable_list = ("title",)

        @action("publish", "Publish", "Publish the selected posts?")
        @requires(tool=Tool.PUBLISH_POST)       # every action declares what it needs
        def action_publish(self, ids): ...      # parse ids, call a service, flash a count

What the base does for every such view:
- ``can_create/can_edit/can_delete/can_export/can_view_details`` are properties: the view's
  ``allow_*`` ceiling AND the matrix for the current role. The endpoints themselves answer
  403 (not a silent redirect) when not allowed: list/details need VIEW, create CREATE, edit
  and inline edit EDIT, delete DELETE, export EXPORT plus the ``export`` tool, an action its
  ``@requires``, an FK lookup CREATE or EDIT here and VIEW on the *target* model.
- Columns a role may not see (``permissions.VISIBLE_FIELDS``) vanish from the list,
  details, export, search and filters; fields a role may not change
  (``permissions.EDITABLE_FIELDS``) vanish from the forms, so a crafted POST cannot set them.
- Every create, update and delete writes an audit row (before/after of the changed fields,
  secrets redacted) inside Flask-Admin's own commit; exports are audited too.
- Exports (``dashboard.admin.export.CsvExportMixin``) stream CSV of the list's search and
  filters, capped at ``EXPORT_MAX_ROWS``, with cells a spreadsheet would run as a formula
  escaped, and are audited (``model.export``).
- List arguments holding a NUL byte or longer than ``MAX_ARGUMENT_LENGTH`` answer 400.
- A view's ``audit_reason(form, model)`` (e.g. the reason for a role change) goes into the
  ``model.update`` audit row; ``related_links(model)`` lists links shown on the details page.
- The details page has a History section (the record's audit rows, newest first) for roles
  that may read the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, current_app, flash, has_request_context, request
from flask_admin import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from flask_admin.model.base import ViewArgs

from dashboard.admin import auditing
from dashboard.admin.access import AccessMixin, Requirement
from dashboard.admin.export import CsvExportMixin
from dashboard.admin.role_fields import RoleFieldsMixin, last_name
from dashboard.auth.current import current_actor, current_role
from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog
from dashboard.permissions import Op, Tool, can, visible_fields
from dashboard.services.audit import SECRET_FIELDS, audit_record, changes_between

HISTORY_LIMIT = 50
MAX_ARGUMENT_LENGTH = 1000
MAX_PAGE = 1_000_000

MODEL_ENDPOINTS: dict[str, Requirement] = {
    "index_view": Requirement(ops=(Op.VIEW,)),
    "details_view": Requirement(ops=(Op.VIEW,)),
    "create_view": Requirement(ops=(Op.CREATE,)),
    "edit_view": Requirement(ops=(Op.EDIT,)),
    "delete_view": Requirement(ops=(Op.DELETE,)),
    "action_view": Requirement(ops=(Op.VIEW,)),  # and then the action's own requirement
    "export": Requirement(ops=(Op.EXPORT,), tool=Tool.EXPORT),
    "ajax_lookup": Requirement(ops=(Op.CREATE, Op.EDIT)),  # and VIEW on the target model
    "ajax_update": Requirement(ops=(Op.EDIT,)),
}
# Flask-Admin's built-in bulk delete.
BUILTIN_ACTIONS: dict[str, Requirement] = {"delete": Requirement(ops=(Op.DELETE,))}


def _harden(flt: Any) -> None:
    """Make a filter refuse (not raise on) a value it cannot take: some of Flask-Admin's
    raise KeyError for an unknown enum name, which would be a 500."""
    validate = flt.validate

    def safe_validate(value: Any) -> bool:
        try:
            return bool(validate(value))
        except Exception:  # noqa: BLE001 - any failure means "not a valid value"
            return False

    flt.validate = safe_validate


def _format_datetime(view: Any, value: datetime, name: str) -> str:
    # Stored as naive UTC with milliseconds; seconds are what staff need to read.
    return value.strftime("%Y-%m-%d %H:%M:%S")


# Lists and details pages show times to the second (exports keep the full value).
TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: _format_datetime}


class SecureView(AccessMixin, BaseView):
    """A custom admin page. Each ``@expose``d method declares ``@requires(...)``;
    undeclared methods answer 403 to everyone."""


class SecureModelView(AccessMixin, RoleFieldsMixin, CsvExportMixin, ModelView):
    """A model's admin view, denied by default; see the module docstring."""

    endpoint_requirements = MODEL_ENDPOINTS
    landing_endpoint = "index_view"

    # What the view offers at most; the matrix narrows it per role.
    allow_create: ClassVar[bool] = False
    allow_edit: ClassVar[bool] = False
    allow_delete: ClassVar[bool] = False
    allow_export: ClassVar[bool] = False
    allow_details: ClassVar[bool] = True

    details_template = "admin/bo/details.html"
    fast_mass_delete = False  # would skip the audit hooks
    page_size = 50
    # Views load related rows themselves (joinedload in get_query, one query per page);
    # Flask-Admin's own eager loads would clash with those options.
    column_auto_select_related = False
    column_type_formatters = TYPE_FORMATTERS
    # Exports write plain values (Flask-Admin would reuse the HTML list formatters).
    column_formatters_export: ClassVar[dict[str, Any]] = {}

    # -- declarations -------------------------------------------------------------------------

    def __init__(self, model: type, *args: Any, **kwargs: Any) -> None:
        if self.permission_model is None:
            self.permission_model = model.__name__
        self._check_declarations()
        super().__init__(model, db, *args, **kwargs)

    def _check_declarations(self) -> None:
        """Refuse to build a view that would show a secret or leave a list implicit."""
        name = type(self).__name__
        required = {"column_list": True, "column_details_list": self.allow_details}
        required["form_columns"] = self.allow_create or self.allow_edit
        required["column_export_list"] = self.allow_export
        for attribute, needed in required.items():
            if needed and getattr(self, attribute) is None:
                raise TypeError(f"{name}: set {attribute} explicitly (an allowlist)")
        for attribute in (
            "column_list",
            "column_details_list",
            "form_columns",
            "column_export_list",
            "column_searchable_list",
            "column_sortable_list",
            "column_editable_list",
            "column_filters",
        ):
            for entry in getattr(self, attribute) or ():
                column = getattr(entry, "column", entry)  # a filter object names its column
                if isinstance(column, str | sa.orm.InstrumentedAttribute | sa.Column) and (
                    last_name(getattr(column, "key", column)) in SECRET_FIELDS
                ):
                    raise TypeError(f"{name}: {attribute} lists the secret column {entry!r}")
        for action_name, (handler, _text, _confirm) in self._declared_actions():
            if (
                action_name not in BUILTIN_ACTIONS
                and self.requirement_of_action(action_name, handler) is None
            ):
                raise TypeError(f"{name}: action {action_name!r} needs @requires(...)")

    def _declared_actions(self) -> Iterable[tuple[str, tuple[Any, str, str | None]]]:
        for attribute in dir(type(self)):
            fn = getattr(type(self), attribute, None)
            if hasattr(fn, "_action"):
                yield fn._action[0], (fn, fn._action[1], fn._action[2])

    # -- permissions --------------------------------------------------------------------------

    # The ``allow_*`` ceiling each Flask-Admin endpoint needs besides the matrix.
    CEILINGS: ClassVar[dict[str, tuple[str, ...]]] = {
        "create_view": ("allow_create",),
        "edit_view": ("allow_edit",),
        "ajax_update": ("allow_edit",),
        "delete_view": ("allow_delete",),
        "export": ("allow_export",),
        "details_view": ("allow_details",),
        "ajax_lookup": ("allow_create", "allow_edit"),  # any: lookups serve the forms
    }

    def allowed(self, name: str, role: Any = None) -> bool:
        ceilings = self.CEILINGS.get(name)
        if ceilings and not any(getattr(self, ceiling) for ceiling in ceilings):
            return False
        if name == "ajax_update" and not self.column_editable_list:
            return False  # no inline-editable column: nothing to update
        return super().allowed(name, role)

    def _allowed_now(self, name: str) -> bool:
        return has_request_context() and self.allowed(name)

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return self._allowed_now("create_view")

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return self._allowed_now("edit_view")

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return self._allowed_now("delete_view")

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return self._allowed_now("export")

    @property
    def can_view_details(self) -> bool:  # type: ignore[override]
        # Outside a request (Flask-Admin building its caches) the ceiling decides.
        return self.allow_details and (not has_request_context() or self.allowed("details_view"))

    def requirement_of_action(self, name: str, handler: Any = None) -> Requirement | None:
        if handler is None:
            data = getattr(self, "_actions_data", {}).get(name)
            handler = data[0] if data else None
        return getattr(handler, "_requirement", None) or BUILTIN_ACTIONS.get(name)

    def is_action_allowed(self, name: str) -> bool:
        if name in BUILTIN_ACTIONS and not self.can_delete:
            return False
        requirement = self.requirement_of_action(name)
        return requirement is not None and requirement.allows(current_role(), self.permission_model)

    def request_allowed(self, name: str) -> bool:
        if not self.allowed(name):
            return False
        if name == "action_view":
            action = request.form.get("action", "")
            return action not in self._actions_data or self.is_action_allowed(action)
        if name == "ajax_update":
            return self._inline_edit_allowed()
        if name == "ajax_lookup":
            return self._lookup_allowed()
        return True

    def _inline_edit_allowed(self) -> bool:
        fields = set(request.form) - {"list_form_pk", "csrf_token"}
        editable = set(self.column_editable_list or ())
        limit = self.editable_names()
        if limit is not None:
            editable &= limit
        return bool(fields) and fields <= editable

    def _lookup_allowed(self) -> bool:
        loader = self._form_ajax_refs.get(request.args.get("name", ""))
        if loader is None:
            return True  # Flask-Admin answers 404
        target = loader.model.__name__
        role = current_role()
        if not can(role, target, Op.VIEW):
            return False
        limit = visible_fields(role, target)
        shown = {last_name(field) for field in getattr(loader, "fields", ())}
        return limit is None or shown <= limit

    # -- request arguments --------------------------------------------------------------------

    def _refresh_filters_cache(self) -> None:
        super()._refresh_filters_cache()
        for flt in self._filters or ():
            _harden(flt)

    def _get_list_extra_args(self) -> ViewArgs:
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                abort(400, description="The address contains a NUL character.")
            if len(value) > MAX_ARGUMENT_LENGTH:
                abort(400, description=f"{name} is longer than {MAX_ARGUMENT_LENGTH} characters.")
        args = super()._get_list_extra_args()
        if not 0 <= (args.page or 0) <= MAX_PAGE:
            abort(400, description="That page number is out of range.")
        return args

    # -- the audit trail ----------------------------------------------------------------------

    def current_actor(self) -> Actor:
        return current_actor()

    def audit_reason(self, form: Any, model: Any) -> str | None:
        """The reason a form gives for its change (None: the form asks for none)."""
        return None

    def related_links(self, model: Any) -> list[tuple[str, str]]:
        """(label, url) of pages about records related to ``model``, for its details page."""
        return []

    def _audit(
        self, action: str, model: Any, changes: dict[str, Any], reason: str | None = None
    ) -> None:
        audit_record(
            actor=current_actor(),
            action=action,
            target_model=self.permission_model,
            target_id=auditing.primary_key(model),
            changes=changes,
            details={"view": self.endpoint},
            reason=reason,
        )

    def _on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        # The form's changes are read before the view's own hook runs: a query in that hook
        # would autoflush and wipe the attribute history that holds the old values.
        before = {} if is_created else auditing.changed_before(model)
        with db.session.no_autoflush:
            super()._on_model_change(form, model, is_created)
        reason = self.audit_reason(form, model)
        if is_created:
            db.session.flush()
            self._audit("model.create", model, auditing.created_changes(model), reason)
            return
        before = {**auditing.changed_before(model), **before}
        changes = changes_between(before, auditing.current_values(model, before))
        if changes:
            self._audit("model.update", model, changes, reason)

    def delete_model(self, model: Any) -> bool:
        # Flask-Admin's delete_model with the audit row added before the commit.
        try:
            self.on_model_delete(model)
            db.session.flush()
            self._audit("model.delete", model, auditing.deleted_changes(model))
            db.session.delete(model)
            db.session.commit()
        except Exception as exc:
            if not self.handle_view_exception(exc):
                flash(f"Failed to delete record. {exc}", "error")
                current_app.logger.exception("Failed to delete record.")
            db.session.rollback()
            return False
        self.after_model_delete(model)
        return True

    def history(self, model: Any) -> list[AuditLog] | None:
        """The record's audit rows, newest first; None when the role may not read them."""
        if not can(current_role(), "AuditLog", Op.VIEW):
            return None
        return list(
            db.session.execute(
                sa.select(AuditLog)
                .where(
                    AuditLog.target_model == self.permission_model,
                    AuditLog.target_id == auditing.primary_key(model),
                )
                .order_by(AuditLog.id.desc())
                .limit(HISTORY_LIMIT)
            ).scalars()
        )
