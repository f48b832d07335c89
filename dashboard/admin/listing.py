"""List pages that stay fast on tables of millions of rows.

``ScalableListMixin`` goes before a Flask-Admin SQLAlchemy ``ModelView`` in the bases and
replaces what does not scale in the stock list:
- counts: an unfiltered list shows the planner's estimate ("about 1,000,000") instead of
  ``COUNT(*)`` over the table; a filtered or searched list counts at most ``count_cap`` rows
  ("more than 10,000");
- order: newest first on an indexed key (``list_key``, with the primary key as tie-breaker)
  unless the user sorts by one of the indexed ``column_sortable_list`` columns;
- deep pages: "Older" links carry a keyset cursor (``?after=``) so page 10,000 costs what
  page 1 costs; a page number far from the start reads only ids from the covering index
  before fetching 50 rows ("deferred join");
- search: per-column strategies (exact / case-insensitive prefix / contains) that match the
  indexes Backoffice creates, instead of ``CAST(col AS VARCHAR) ILIKE '%term%'``;
- hostile input: NUL bytes, over-long terms, undecodable cursors and absurd page numbers
  answer 400 instead of a 500 or a slow query;
- rendering: rows are drawn by a lean template (``list_page_extras``): row links from one
  URL prefix each, inline-edit widgets from attributes computed once per page instead of
  one WTForms form per row.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, g, request, url_for
from flask_admin.model.base import ViewArgs
from flask_admin.model.widgets import XEditableWidget
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from wtforms.widgets import html_params

from dashboard.database import quoted_table_name

MAX_SEARCH_LENGTH = 200
MAX_PAGE = 1_000_000
MATCH_MODES = ("prefix", "contains", "exact")
# Below this many rows the planner's estimate is not worth showing: count exactly.
EXACT_COUNT_BELOW = 20_000


@dataclass(frozen=True)
class SearchColumn:
    """How one column takes part in search.

    ``kind``: "exact" (ids, Stripe ids: equality only) or "text" (case-insensitive; prefix,
    contains or exact according to the user's choice). ``expression`` is a callable taking
    the model and returning the SQL expression to compare (e.g. a subquery for "the user's
    email" on payments), default: the attribute of that name.
    """

    name: str
    kind: str = "text"
    expression: Any = None
    # False where no trigram index serves substrings: "contains" then matches by prefix.
    substring: bool = True
    # A callable (model, term, mode) -> condition that replaces the column comparison, e.g.
    # "userId IN (SELECT id FROM User WHERE lower(email) LIKE ...)" (see ``user_email``).
    condition: Any = None
    # The column the role must be allowed to see for this search to apply (default: name).
    visible_as: str | None = None

    def column(self, model: type) -> Any:
        return self.expression(model) if self.expression else getattr(model, self.name)

    def where(self, model: type, term: str, mode: str) -> Any:
        if self.condition is not None:
            return self.condition(model, term, mode)
        expression = self.column(model)
        if self.kind == "exact":
            return expression == term
        if mode == "contains" and not self.substring:
            mode = "prefix"
        return text_match(expression, term, mode)


def user_email(user_column: str = "user_id", *, visible_as: str = "user") -> SearchColumn:
    """Search a table by its user's e-mail: a subquery on User served by the lower(email)
    indexes, then the table's own index on ``user_column`` (never a correlated scan)."""
    from dashboard.models import User

    def condition(model: type, term: str, mode: str) -> Any:
        ids = sa.select(User.id).where(text_match(User.email, term, mode))
        return getattr(model, user_column).in_(ids)

    return SearchColumn("user_email", condition=condition, visible_as=visible_as)


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(column: Any, term: str, mode: str) -> Any:
    """A condition on lower(column) that the lower(...) pattern / trigram indexes serve."""
    lowered = sa.func.lower(column)
    term = term.lower()
    if mode == "exact":
        return lowered == term
    if mode == "contains":
        return lowered.like(f"%{escape_like(term)}%", escape="\\")
    return lowered.like(f"{escape_like(term)}%", escape="\\")


def encode_cursor(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key_value(value: Any, python_type: type) -> Any:
    """A cursor value as the key column's type; ValueError if it cannot be one."""
    if python_type is datetime:
        if not isinstance(value, str):
            raise ValueError
        return datetime.fromisoformat(value)
    if python_type is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError
        return value
    if not isinstance(value, str) or "\x00" in value or len(value) > MAX_SEARCH_LENGTH:
        raise ValueError
    return value


def decode_cursor(cursor: str, types: list[type]) -> list[Any]:
    """The key values in a cursor (checked against the key columns' ``types``), or 400 if
    it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        return [_key_value(v, t) for v, t in zip(values, types, strict=True)]
    except (ValueError, binascii.Error, UnicodeDecodeError, TypeError):
        abort(400, description="That page link is not valid; go back to the first page.")


class CountLabel(int):
    """A row count that prints as what it really is ("about 1,000,000",
    "more than 10,000") wherever Flask-Admin's templates show the count."""

    label: str

    def __new__(cls, value: int, label: str) -> CountLabel:
        number = super().__new__(cls, value)
        number.label = label
        return number

    def __str__(self) -> str:
        return self.label


class ScalableListMixin:
    """See the module docstring. Class attributes a view sets:

    - ``list_key``: attribute names of the default order, newest first; the last one must
      be unique (the primary key). An index on exactly these columns must exist.
    - ``search_columns``: list of SearchColumn.
    - ``count_cap``: the most rows a filtered count reads.
    - ``deferred_join_after``: from this many skipped rows on, page numbers use the
      index-only id scan.
    """

    list_key: tuple[str, ...] = ("created_at", "id")
    search_columns: tuple[SearchColumn, ...] = ()
    count_cap: int = 10_000
    deferred_join_after: int = 2_000
    # The planner's estimate is per table, so it is used only for the unfiltered list.
    page_size = 50
    list_template = "admin/model/scalable_list.html"
    can_set_page_size = True
    page_size_options = (20, 50, 100)

    # -- request arguments ------------------------------------------------------------
    def _get_list_extra_args(self) -> ViewArgs:
        args = super()._get_list_extra_args()  # type: ignore[misc]
        search = args.search
        if search is not None:
            if "\x00" in search:
                abort(400, description="The search contains a NUL character.")
            if len(search) > MAX_SEARCH_LENGTH:
                abort(
                    400, description=f"Search terms are limited to {MAX_SEARCH_LENGTH} characters."
                )
            search = search.strip() or None
        page = args.page or 0
        if page < 0 or page > MAX_PAGE:
            abort(400, description="That page number is out of range.")
        match = request.args.get("match", "prefix")
        if match not in MATCH_MODES:
            abort(400, description=f"match must be one of {', '.join(MATCH_MODES)}.")
        # The cursor belongs to this page only: sort, filter and page links start afresh.
        extra = {k: v for k, v in args.extra_args.items() if k != "after"}
        return args.clone(search=search, page=page, extra_args=extra)

    def search_placeholder(self) -> str:
        names = ", ".join(column.name.replace("_", " ") for column in self.search_columns)
        return f"Search {names}" if names else "Search"

    @property
    def _search_supported(self) -> bool:  # type: ignore[override]
        return bool(self.search_columns)

    @_search_supported.setter
    def _search_supported(self, value: bool) -> None:
        # Flask-Admin's scaffolding assigns this; the search columns decide instead.
        pass

    # -- query building -----------------------------------------------------------------
    def search_condition(self, term: str) -> Any:
        """The WHERE condition for a search term under the current match mode."""
        mode = request.args.get("match", "prefix")
        if mode == "contains" and len(term) < 3:
            # Trigram indexes need three characters; shorter terms search by prefix.
            mode = "prefix"
            g.list_search_note = "“Contains” needs at least 3 characters; searched by prefix."
        conditions = [
            column.where(self.model, term, mode)  # type: ignore[attr-defined]
            for column in self._visible_search_columns()
        ]
        return sa.or_(*conditions) if conditions else sa.false()

    def _visible_search_columns(self) -> list[SearchColumn]:
        """The search columns over columns the signed-in role may see."""
        visible = getattr(self, "visible_names", lambda: None)()
        if visible is None:
            return list(self.search_columns)
        return [c for c in self.search_columns if (c.visible_as or c.name) in visible]

    def _key_columns(self) -> list[Any]:
        return [getattr(self.model, name) for name in self.list_key]  # type: ignore[attr-defined]

    def _key_types(self) -> list[type]:
        types = []
        for column in self._key_columns():
            try:
                python_type = column.type.python_type
            except NotImplementedError:
                python_type = str
            types.append(python_type if python_type in (datetime, int) else str)
        return types

    def matching_query(self, search: str | None, filters: Any) -> Any:
        """The view's query with the list's search and filters and no order or limit: what
        "all N matching" means for bulk actions, rebuilt on the server from the list's
        query string."""
        query = self.get_query()  # type: ignore[attr-defined]
        if search:
            query = query.filter(self.search_condition(search))
        if filters and self._filters:  # type: ignore[attr-defined]
            query, _, _joins, _count_joins = self._apply_filters(  # type: ignore[attr-defined]
                query, None, {}, {}, filters
            )
        return query

    def _count(self, query: Any, filtered: bool) -> int:
        session = query.session
        if not filtered and session.get_bind().dialect.name == "postgresql":
            estimate = session.execute(
                sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": quoted_table_name(self.model.__table__, session.get_bind())},  # type: ignore[attr-defined]
            ).scalar()
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                g.list_count_label = f"about {estimate:,}"
                return CountLabel(estimate, g.list_count_label)
        primary = getattr(self.model, self.list_key[-1])  # type: ignore[attr-defined]
        capped = query.with_entities(primary).order_by(None).limit(self.count_cap + 1)
        count = session.execute(
            sa.select(sa.func.count()).select_from(capped.subquery())
        ).scalar_one()
        if count > self.count_cap:
            g.list_count_label = f"more than {self.count_cap:,}"
        else:
            g.list_count_label = f"{count:,}"
        return CountLabel(count, g.list_count_label)

    def get_list(  # type: ignore[override]
        self,
        page: int | None,
        sort_column: str | None,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        g.list_next_url = g.list_search_note = None
        g.list_keyset = False
        query = self.matching_query(search, filters)
        joins: dict[Any, Any] = {}
        count = self._count(query, filtered=bool(search or filters)) if execute else None

        page_size = self.page_size if page_size is None else page_size
        keys = self._key_columns()
        if sort_column is not None and sort_column in self._sortable_columns:  # type: ignore[attr-defined]
            query, joins = self._apply_sorting(query, joins, sort_column, sort_desc)  # type: ignore[attr-defined]
            query = query.order_by(keys[-1].desc() if sort_desc else keys[-1])
            query = self._paginate_offset(query, page, page_size)
        else:
            query = query.order_by(*(column.desc() for column in keys))
            query = self._paginate_by_key(query, keys, page, page_size)
        if execute:
            rows = query.all()
            if rows and len(rows) == page_size and sort_column is None:
                cursor = encode_cursor([getattr(rows[-1], name) for name in self.list_key])
                g.list_next_url = self._list_url_with(after=cursor)
            g.list_first_url = self._list_url_with(after=None)
            return count, rows
        return count, query

    # -- rendering ---------------------------------------------------------------------
    def list_form(self, obj: Any = None) -> Any:
        # Flask-Admin builds one inline-edit form per listed row; the lean row template
        # needs none (see list_page_extras), so the list page gets one shared form.
        if obj is not None and request.endpoint == f"{self.endpoint}.index_view":  # type: ignore[attr-defined]
            if "bo_list_form" not in g:
                g.bo_list_form = super().list_form()  # type: ignore[misc]
            return g.bo_list_form
        return super().list_form(obj)  # type: ignore[misc]

    def list_page_extras(self) -> dict[str, Any]:
        """What the lean row template needs, computed once per page: URL prefixes of the
        row links, and the fixed attributes of each inline-editable column's widget."""
        if "bo_list_extras" in g:
            return g.bo_list_extras
        editable: dict[str, Markup] = {}
        if getattr(self, "can_edit", False) and self.column_editable_list:  # type: ignore[attr-defined]
            form = self.list_form()  # type: ignore[attr-defined]
            for name in self.column_editable_list:  # type: ignore[attr-defined]
                if name in form:
                    field = form[name]
                    attributes = XEditableWidget().get_kwargs(
                        field,
                        {"data-role": "x-editable", "data-url": "./ajax/update/", "id": field.id},
                    )
                    attributes["name"] = field.name
                    editable[name] = Markup(html_params(**attributes))
        g.bo_list_extras = {
            "details_url": url_for(".details_view"),
            "edit_url": url_for(".edit_view"),
            "editable": editable,
            "csrf": generate_csrf() if editable else "",
        }
        return g.bo_list_extras

    def row_action_kind(self, action: Any) -> str:
        """ "view" / "edit" for Flask-Admin's two link actions (drawn by the lean template),
        "other" for anything else (drawn by its own macro)."""
        kind = type(action).__name__
        return {"ViewRowAction": "view", "EditRowAction": "edit"}.get(kind, "other")

    @staticmethod
    def _list_url_with(after: str | None) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "after")}
        if after:
            args["after"] = after
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    @staticmethod
    def _paginate_offset(query: Any, page: int | None, page_size: int) -> Any:
        if page_size:
            query = query.limit(page_size)
            if page:
                query = query.offset(page * page_size)
        return query

    def _paginate_by_key(
        self, query: Any, keys: list[Any], page: int | None, page_size: int
    ) -> Any:
        cursor = request.args.get("after")
        if cursor:
            values = decode_cursor(cursor, self._key_types())
            g.list_keyset = True
            return query.filter(sa.tuple_(*keys) < sa.tuple_(*values)).limit(page_size or None)
        skipped = (page or 0) * page_size
        if not page_size or skipped < self.deferred_join_after:
            return self._paginate_offset(query, page, page_size)
        # Read only the ids of the skipped rows (an index-only scan of the key index), then
        # fetch the page's rows by id.
        primary = keys[-1]
        ids = query.with_entities(primary).offset(skipped).limit(page_size).subquery()
        return query.filter(primary.in_(sa.select(ids.c[0])))
