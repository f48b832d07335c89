"""CSV export that respects the list's search and filters, streams with constant memory,
stops at a row cap, neutralises spreadsheet formulas, and is audited.

Flask-Admin's own export loads the whole result before writing it when the row limit is
off, and writes cells such as ``=HYPERLINK(...)`` as they are, which a spreadsheet then
evaluates on staff's machines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, current_app, request, stream_with_context
from flask_admin import expose

from dashboard.extensions import db
from dashboard.services.audit import audit_record

# A cell beginning with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_BATCH = 1000


def escape_cell(value: Any) -> str:
    """The text of a CSV cell, with a leading apostrophe where it would start a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = str(getattr(value, "value", value))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class CsvExportMixin:
    """Goes before the ModelView in the bases. The view must provide ``current_actor()``
    (the auth base does) and its ``can_export`` decides who may export. Columns come from
    ``column_export_list`` (attribute paths such as ``user.email``), as narrowed for the
    role; ``column_formatters_export`` entries ``(view, context, row, name)`` format a cell.

    The audit row (``model.export``) is written before the first byte is sent: the search,
    filters, columns, how many rows match (counted up to the cap) and how many are sent."""

    export_types = ["csv"]

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Response:  # type: ignore[override]
        if not self.can_export or export_type != "csv":  # type: ignore[attr-defined]
            abort(404)
        return self.export_csv()

    def _export_value(self, row: Any, path: str) -> Any:
        formatter = (getattr(self, "column_formatters_export", None) or {}).get(path)
        if formatter is not None:
            return formatter(self, None, row, path)
        value = row
        for part in path.split("."):
            value = getattr(value, part, None) if value is not None else None
        return value

    def export_column_names(self) -> list[str]:
        columns = getattr(self, "_export_columns", None)
        if columns is not None:
            return [str(name) for name, _label in columns]
        return list(self.column_export_list)  # type: ignore[attr-defined]

    @staticmethod
    def _rows_up_to(query: Any, limit: int) -> int:
        """How many rows the export will send: matching rows, counted up to ``limit`` + 1."""
        capped = query.limit(None).offset(None).order_by(None).limit(limit + 1).subquery()
        return query.session.execute(sa.select(sa.func.count()).select_from(capped)).scalar_one()

    def export_csv(self) -> Response:
        limit = int(current_app.config.get("EXPORT_MAX_ROWS", 100_000))
        view_args = self._get_list_extra_args()  # type: ignore[attr-defined]
        sort = self._get_column_by_idx(view_args.sort)  # type: ignore[attr-defined]
        _count, query = self.get_list(  # type: ignore[attr-defined]
            0,
            sort[0] if sort else None,
            view_args.sort_desc,
            view_args.search,
            view_args.filters,
            execute=False,
            page_size=limit,
        )
        columns = self.export_column_names()
        model_name = self.model.__name__  # type: ignore[attr-defined]
        matching = self._rows_up_to(query, limit)
        audit_record(
            actor=self.current_actor(),  # type: ignore[attr-defined]
            action="model.export",
            target_model=getattr(self, "permission_model", None) or model_name,
            details={
                "rows": min(matching, limit),
                "matching": matching if matching <= limit else f"more than {limit}",
                "search": view_args.search,
                "filters": [[flt[1], flt[2]] for flt in (view_args.filters or [])],
                "query": {k: v for k, v in request.args.items() if k != "url"},
                "columns": columns,
                "row_limit": limit,
            },
        )
        db.session.commit()

        def rows() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(columns)
            for number, row in enumerate(query.yield_per(EXPORT_BATCH), start=1):
                writer.writerow([escape_cell(self._export_value(row, c)) for c in columns])
                if number % EXPORT_BATCH == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        filename = f"{model_name.lower()}-{datetime.utcnow():%Y%m%d-%H%M%S}.csv"
        return Response(
            stream_with_context(rows()),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )
