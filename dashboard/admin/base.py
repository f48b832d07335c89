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
- Exports are capped at ``EXPORT_MAX_ROWS`` and cells that a spreadsheet would run as a
  formula are escaped.
- The details page has a History section (the record's audit rows, newest first) for roles
  that may read the audit trail.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import current_app, flash, has_request_context, request
from flask_admin import BaseView
from flask_admin.contrib.sqla import ModelView

from dashboard.admin import auditing
from dashboard.admin.access import AccessMixin, Requirement
from dashboard.auth.current import current_actor, current_role
from dashboard.extensions import db
from dashboard.models import AuditLog
from dashboard.permissions import Op, Tool, can, editable_fields, visible_fields
from dashboard.services.audit import SECRET_FIELDS, audit_record, changes_between

HISTORY_LIMIT = 50
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

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


class SecureView(AccessMixin, BaseView):
    """A custom admin page. Each ``@expose``d method declares ``@requires(...)``;
    undeclared methods answer 403 to everyone."""


def _last(name: Any) -> str:
    return str(name).split(".")[-1]


def _role_filtered(name: str) -> property:
    """A column list that Flask-Admin computes once but each role sees filtered."""
    key = f"_bo_all{name}"

    def get(self: SecureModelView) -> list[tuple[str, str]]:
        return self._only_visible(self.__dict__.get(key))

    def set_(self: SecureModelView, value: list[tuple[str, str]]) -> None:
        self.__dict__[key] = value

    return property(get, set_)


class SecureModelView(AccessMixin, ModelView):
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
            for column in getattr(self, attribute) or ():
                if isinstance(column, str | sa.orm.InstrumentedAttribute) and (
                    _last(getattr(column, "key", column)) in SECRET_FIELDS
                ):
                    raise TypeError(f"{name}: {attribute} lists the secret column {column!r}")
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

    CEILINGS: ClassVar[dict[str, str]] = {
        "create_view": "allow_create",
        "edit_view": "allow_edit",
        "ajax_update": "allow_edit",
        "delete_view": "allow_delete",
        "export": "allow_export",
        "details_view": "allow_details",
        "ajax_lookup": "allow_edit",
    }

    def allowed(self, name: str, role: Any = None) -> bool:
        ceiling = self.CEILINGS.get(name)
        if name == "ajax_lookup":
            offered = self.allow_create or self.allow_edit
        else:
            offered = getattr(self, ceiling) if ceiling else True
        return bool(offered) and super().allowed(name, role)

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
        shown = {_last(field) for field in getattr(loader, "fields", ())}
        return limit is None or shown <= limit

    # -- what a role sees ---------------------------------------------------------------------

    def visible_names(self) -> frozenset[str] | None:
        if not has_request_context():
            return None
        return visible_fields(current_role(), self.permission_model or "")

    def editable_names(self) -> set[str] | None:
        limit = editable_fields(current_role(), self.permission_model or "")
        return None if limit is None else set(limit)

    def _only_visible(self, columns: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
        limit = self.visible_names()
        if columns is None or limit is None:
            return columns or []
        return [(c, label) for c, label in columns if c in limit or c.split(".")[0] in limit]

    def _column_name(self, column: Any) -> str | None:
        """The attribute name of a Column / InstrumentedAttribute of this view's model."""
        if isinstance(column, sa.orm.InstrumentedAttribute):
            return column.key if column.class_ is self.model else None
        try:
            return sa.inspect(self.model).get_property_by_column(column).key
        except (sa.exc.NoInspectionAvailable, sa.orm.exc.UnmappedColumnError, AttributeError):
            return None

    _list_columns = _role_filtered("_list_columns")
    _details_columns = _role_filtered("_details_columns")
    _export_columns = _role_filtered("_export_columns")

    @property
    def _search_fields(self) -> list[Any] | None:  # type: ignore[override]
        fields = self.__dict__.get("_bo_search_fields")
        limit = self.visible_names()
        if fields is None or limit is None:
            return fields
        return [(c, path) for c, path in fields if not path and self._column_name(c) in limit]

    @_search_fields.setter
    def _search_fields(self, value: list[Any] | None) -> None:
        self.__dict__["_bo_search_fields"] = value

    def _filter_visible(self, index: int) -> bool:
        limit = self.visible_names()
        if limit is None:
            return True
        return self._column_name(getattr(self._filters[index], "column", None)) in limit

    def _get_list_filter_args(self) -> list[Any] | None:
        filters = super()._get_list_filter_args()
        if filters is None:
            return None
        return [flt for flt in filters if self._filter_visible(flt[0])]

    def _get_filter_groups(self) -> OrderedDict[str, list[dict[str, Any]]] | None:
        groups = super()._get_filter_groups()
        if groups is None:
            return None
        kept: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        for label, entries in groups.items():
            entries = [entry for entry in entries if self._filter_visible(entry["index"])]
            if entries:
                kept[label] = entries
        return kept

    def render(self, template: str, **kwargs: Any) -> str:
        if "filter_groups" in kwargs and not kwargs["filter_groups"]:
            kwargs["filters"] = None  # no filter this role may use: no filter menu
        return super().render(template, **kwargs)

    # -- what a role may change ---------------------------------------------------------------

    def _limit_form(self, form: Any) -> Any:
        limit = self.editable_names()
        if limit is not None:
            for field_name in [f.name for f in form]:
                if field_name not in limit and field_name not in ("csrf_token", "list_form_pk"):
                    del form[field_name]
        return form

    def create_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().create_form(obj))

    def edit_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().edit_form(obj))

    def list_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().list_form(obj))

    # -- the audit trail ----------------------------------------------------------------------

    def _audit(self, action: str, model: Any, changes: dict[str, Any]) -> None:
        audit_record(
            actor=current_actor(),
            action=action,
            target_model=self.permission_model,
            target_id=auditing.primary_key(model),
            changes=changes,
            details={"view": self.endpoint},
        )

    def _on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        # The form's changes are read before the view's own hook runs: a query in that hook
        # would autoflush and wipe the attribute history that holds the old values.
        before = {} if is_created else auditing.changed_before(model)
        with db.session.no_autoflush:
            super()._on_model_change(form, model, is_created)
        if is_created:
            db.session.flush()
            self._audit("model.create", model, auditing.created_changes(model))
            return
        before = {**auditing.changed_before(model), **before}
        changes = changes_between(before, auditing.current_values(model, before))
        if changes:
            self._audit("model.update", model, changes)

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

    # -- exports ------------------------------------------------------------------------------

    @property
    def export_max_rows(self) -> int:  # type: ignore[override]
        return int(current_app.config.get("EXPORT_MAX_ROWS", 10000))

    def get_export_value(self, model: Any, name: str) -> Any:
        value = super().get_export_value(model, name)
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            return "'" + value
        return value

    def _export_data(self) -> tuple[int, list[Any]]:
        count, data = super()._export_data()
        audit_record(
            actor=current_actor(),
            action="model.export",
            target_model=self.permission_model,
            details={
                "rows": len(data),
                "matching": count,
                "query": {k: v for k, v in request.args.items() if k != "url"},
            },
        )
        db.session.commit()
        return count, data
