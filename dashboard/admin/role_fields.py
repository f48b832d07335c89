"""What each role sees and may change in a model view (``permissions.VISIBLE_FIELDS`` and
``permissions.EDITABLE_FIELDS``), applied per request on top of the columns and forms that
Flask-Admin computes once per view: hidden columns vanish from the list, details, export,
search and filters; fields a role may not change vanish from its forms, so a crafted POST
cannot set them either.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from flask import has_request_context

from dashboard.auth.current import current_role
from dashboard.permissions import editable_fields, visible_fields

# Fields every form keeps whatever the role: the CSRF token and inline edit's row id.
ALWAYS_KEPT = ("csrf_token", "list_form_pk")


def last_name(name: Any) -> str:
    """``"user.email"`` -> ``"email"``; an attribute -> its key."""
    return str(getattr(name, "key", name)).split(".")[-1]


def _role_filtered(name: str) -> property:
    """A column list that Flask-Admin computes once but each role sees filtered."""
    key = f"_bo_all{name}"

    def get(self: RoleFieldsMixin) -> list[tuple[str, str]]:
        return self._only_visible(self.__dict__.get(key))

    def set_(self: RoleFieldsMixin, value: list[tuple[str, str]]) -> None:
        self.__dict__[key] = value

    return property(get, set_)


class RoleFieldsMixin:
    """Mixed into SecureModelView before Flask-Admin's ModelView."""

    permission_model: Any
    model: Any
    _filters: Any

    _list_columns = _role_filtered("_list_columns")
    _details_columns = _role_filtered("_details_columns")
    _export_columns = _role_filtered("_export_columns")

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
                if field_name not in limit and field_name not in ALWAYS_KEPT:
                    del form[field_name]
        return form

    def create_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().create_form(obj))

    def edit_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().edit_form(obj))

    def list_form(self, obj: Any = None) -> Any:
        return self._limit_form(super().list_form(obj))
