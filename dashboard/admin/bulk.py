"""Bulk actions with a real confirmation page, on the ticked rows or on "all N matching".

A view declares its actions and mixes ``BulkActionsMixin`` in before ``SecureModelView``
(after ``ScalableListMixin``, whose ``matching_query`` defines "matching")::

    class UserView(BulkActionsMixin, ScalableListMixin, SecureModelView):
        bulk_actions = (
            BulkAction("ban", "Ban", Requirement(tool=Tool.BAN), BanForm, "bulk_ban",
                       explain="Each user is banned and signed out everywhere."),
        )

        def bulk_ban(self, selection: Selection, form: BanForm) -> BulkOutcome:
            result = users_ban_bulk(user_filter=selection.id_select(), ...)
            return BulkOutcome(f"{result.banned} banned ...")

How a selection travels:
- ticked rows: Flask-Admin's "With selected" menu posts the row ids to ``action_view``,
  which answers with the confirmation page; the ids go on as hidden fields;
- all matching: the link above the list opens ``bulk_view`` with the list's own query
  string (search, match mode, filters); the confirmation form posts back to ``bulk_apply``
  with that same query string, and the server rebuilds the where-clause from it. Nothing
  but the ids or the query string crosses the browser, so what runs is what the list shows
  (as of the moment of confirming).

The confirmation page shows how many records, a sample of up to ``SAMPLE_SIZE``, what will
happen, and the action's form (a reason, an amount...), with its CSRF token. Access: the
endpoints need VIEW on the model and the action's own requirement; the service called
checks again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from markupsafe import Markup, escape

from dashboard.admin.access import Requirement, requires
from dashboard.auth.current import current_role
from dashboard.auth.sessions import safe_next
from dashboard.core.errors import BackofficeError
from dashboard.permissions import Op

SAMPLE_SIZE = 10
MAX_TICKED = 1000
MAX_ID_LENGTH = 100
BULK_ENDPOINTS = ("bulk_view", "bulk_apply")
# Query-string keys of the bulk endpoints themselves, never part of the list's arguments.
OWN_ARGUMENTS = ("bulk",)

ERR_NOTHING_TICKED = "Tick at least one row, or use “all matching”."
ERR_TOO_MANY = "{action} works on at most {limit:,} records at once; narrow the list first."
ERR_SCOPE = "The confirmation form was incomplete; nothing was changed."


class ConfirmOnlyForm(FlaskForm):
    """An action that needs nothing but the click (and the CSRF token)."""


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    requirement: Requirement
    form: type[FlaskForm]
    run: str  # name of the view method: run(selection, form) -> BulkOutcome
    explain: str = ""
    max_rows: int | None = None  # for services that are not set-based
    danger: bool = False


@dataclass(frozen=True)
class Selection:
    scope: str  # "selected" (ticked rows) or "all" (everything matching the list)
    ids: tuple[str, ...]
    query: Any  # ORM Query of the selected rows, unordered
    primary_key: Any
    criteria: str = ""  # the list's search and filters, for "all"

    @property
    def label(self) -> str:
        """The selection as the audit trail describes it."""
        if self.scope == "selected":
            return f"{len(self.ids)} ticked row(s)"
        return f"all matching: {self.criteria}"

    def id_select(self) -> sa.Select[Any]:
        """SELECT of the selected rows' primary keys, for set-based services."""
        return self.query.with_entities(self.primary_key).order_by(None).statement

    def count(self) -> int:
        subquery = self.query.with_entities(self.primary_key).order_by(None).subquery()
        return self.query.session.execute(
            sa.select(sa.func.count()).select_from(subquery)
        ).scalar_one()

    def id_list(self, limit: int) -> list[str]:
        rows = self.query.with_entities(self.primary_key).order_by(None).limit(limit)
        return [str(value) for (value,) in rows]


@dataclass(frozen=True)
class BulkOutcome:
    message: str
    category: str = "success"


def clean_ids(values: list[str]) -> tuple[str, ...]:
    """The ticked ids, without duplicates or values no id can be (NUL, over-long)."""
    ids = [v for v in values if v and "\x00" not in v and len(v) <= MAX_ID_LENGTH]
    return tuple(dict.fromkeys(ids))


class BulkActionsMixin:
    """See the module docstring."""

    bulk_actions: ClassVar[tuple[BulkAction, ...]] = ()
    bulk_template = "admin/bo/bulk_confirm.html"

    model: Any
    permission_model: Any
    _actions: list[tuple[str, str]]
    _actions_data: dict[str, tuple[Any, str, str | None]]

    # -- registration and access ----------------------------------------------------------

    def init_actions(self) -> None:
        super().init_actions()  # type: ignore[misc]
        for action in self.bulk_actions:
            handler: Callable[[list[str]], Any] = partial(self._confirm_ticked, action)
            handler._requirement = action.requirement  # type: ignore[attr-defined]
            self._actions.append((action.name, action.label))
            self._actions_data[action.name] = (handler, action.label, None)

    def bulk_action(self, name: str | None) -> BulkAction | None:
        return next((a for a in self.bulk_actions if a.name == name), None)

    def allowed(self, name: str, role: Any = None) -> bool:
        if not super().allowed(name, role):  # type: ignore[misc]
            return False
        if name in BULK_ENDPOINTS:
            role = role if role is not None else current_role()
            return any(a.requirement.allows(role, self.permission_model) for a in self.bulk_actions)
        return True

    def request_allowed(self, name: str) -> bool:
        if not super().request_allowed(name):  # type: ignore[misc]
            return False
        if name in BULK_ENDPOINTS:
            action = self.bulk_action(request.values.get("bulk"))
            return action is None or action.requirement.allows(
                current_role(), self.permission_model
            )
        return True

    def bulk_actions_allowed(self) -> list[BulkAction]:
        role = current_role()
        return [a for a in self.bulk_actions if a.requirement.allows(role, self.permission_model)]

    def bulk_all_url(self, action: BulkAction) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "after", "bulk")}
        return url_for(".bulk_view", bulk=action.name, **args)

    # -- selections -----------------------------------------------------------------------

    def _bulk_primary_key(self) -> Any:
        return sa.inspect(self.model).primary_key[0]

    def _list_criteria(self) -> str:
        view_args = self._get_list_extra_args()  # type: ignore[attr-defined]
        parts = []
        if view_args.search:
            mode = request.args.get("match", "prefix")
            parts.append(f"search {view_args.search!r} ({mode})")
        for index, _name, value in view_args.filters or ():
            flt = self._filters[index]  # type: ignore[attr-defined]
            parts.append(f"{flt.name} {flt.operation()} {value!r}")
        return "; ".join(parts) if parts else "no search or filter"

    def _selection(self, scope: str, ids: tuple[str, ...] = ()) -> Selection:
        primary_key = self._bulk_primary_key()
        if scope == "selected":
            query = self.get_query().filter(primary_key.in_(ids))  # type: ignore[attr-defined]
            return Selection(scope, ids, query, primary_key)
        view_args = self._get_list_extra_args()  # type: ignore[attr-defined]
        query = self.matching_query(view_args.search, view_args.filters)  # type: ignore[attr-defined]
        return Selection(scope, ids, query, primary_key, self._list_criteria())

    def _sample(self, selection: Selection) -> list[Any]:
        keys = [getattr(self.model, name).desc() for name in self.list_key]  # type: ignore[attr-defined]
        return selection.query.order_by(*keys).limit(SAMPLE_SIZE).all()

    def bulk_sample_label(self, row: Any) -> Markup:
        """How a sample row is shown on the confirmation page (a link to its details)."""
        pk = self.get_pk_value(row)  # type: ignore[attr-defined]
        return Markup('<a href="{}">{}</a>').format(
            url_for(".details_view", id=pk), escape(str(row))
        )

    # -- the pages --------------------------------------------------------------------------

    def _back_url(self, selection: Selection) -> str:
        if selection.scope == "selected":
            back = request.values.get("back") or request.values.get("url")
            return safe_next(back) or url_for(".index_view")
        args = {k: v for k, v in request.args.items() if k not in OWN_ARGUMENTS}
        return url_for(".index_view", **args)

    def _render_confirmation(
        self, action: BulkAction, selection: Selection, form: FlaskForm, status: int = 200
    ) -> ResponseReturnValue:
        count = selection.count()
        too_many = action.max_rows is not None and count > action.max_rows
        args = {k: v for k, v in request.args.items() if k not in OWN_ARGUMENTS}
        page = self.render(  # type: ignore[attr-defined]
            self.bulk_template,
            action=action,
            selection=selection,
            form=form,
            count=count,
            sample=[self.bulk_sample_label(row) for row in self._sample(selection)],
            too_many=ERR_TOO_MANY.format(action=action.label, limit=action.max_rows)
            if too_many
            else None,
            apply_url=url_for(".bulk_apply", **(args if selection.scope == "all" else {})),
            back_url=self._back_url(selection),
        )
        return page, status

    def _confirm_ticked(self, action: BulkAction, ids: list[str]) -> ResponseReturnValue:
        """Flask-Admin's action handler: the confirmation page for the ticked rows."""
        cleaned = clean_ids(ids)[:MAX_TICKED]
        if not cleaned:
            flash(ERR_NOTHING_TICKED, "warning")
            return redirect(safe_next(request.form.get("url")) or url_for(".index_view"))
        selection = self._selection("selected", cleaned)
        return self._render_confirmation(action, selection, action.form(formdata=None))

    @expose("/bulk/", methods=("GET",))
    @requires(Op.VIEW)
    def bulk_view(self) -> ResponseReturnValue:
        """The confirmation page for every record matching the list's query string."""
        action = self.bulk_action(request.args.get("bulk"))
        if action is None:
            abort(404)
        return self._render_confirmation(action, self._selection("all"), action.form(formdata=None))

    @expose("/bulk/apply/", methods=("POST",))
    @requires(Op.VIEW)
    def bulk_apply(self) -> ResponseReturnValue:
        action = self.bulk_action(request.form.get("bulk"))
        if action is None:
            abort(404)
        scope = request.form.get("scope")
        ids = clean_ids(request.form.getlist("rowid"))[:MAX_TICKED]
        if scope not in ("selected", "all") or (scope == "selected" and not ids):
            abort(400, description=ERR_SCOPE)
        selection = self._selection(scope, ids)
        form = action.form()
        if not form.validate_on_submit():
            return self._render_confirmation(action, selection, form, status=400)
        if action.max_rows is not None and selection.count() > action.max_rows:
            flash(ERR_TOO_MANY.format(action=action.label, limit=action.max_rows), "danger")
            return redirect(self._back_url(selection))
        try:
            outcome = getattr(self, action.run)(selection, form)
        except BackofficeError as exc:
            flash(exc.message, "danger")
            return self._render_confirmation(action, selection, form, status=exc.status_code)
        flash(outcome.message, outcome.category)
        return redirect(self._back_url(selection))
