"""Links from a record's details page to lists of its related records ("this user's
payments"), as the related list filtered by an equality filter on the foreign key, so the
page shows the filter, can be narrowed further and exported like any list.

A link appears only if the related view exists, has such a filter, and the signed-in role
may open it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def _view(endpoint: str) -> Any | None:
    for admin in current_app.extensions.get("admin", []):
        for view in admin._views:  # noqa: SLF001 - Flask-Admin keeps no public list
            if view.endpoint == endpoint:
                return view
    return None


def related_list_url(endpoint: str, column: str, value: str) -> str | None:
    """The list of view ``endpoint`` filtered on ``column == value``, or None if the view
    is missing, has no equality filter on that column, or is closed to the role."""
    view = _view(endpoint)
    if view is None or not view.is_accessible():
        return None
    for index, flt in enumerate(view._filters or ()):  # noqa: SLF001
        key = getattr(getattr(flt, "column", None), "key", None)
        if key == column and str(flt.operation()) == "equals":
            arg = f"flt0_{view.get_filter_arg(index, flt)}"
            return url_for(f"{endpoint}.index_view", **{arg: value})
    return None


def related_links(pairs: list[tuple[str, str, str, str]]) -> list[tuple[str, str]]:
    """``[(label, endpoint, column, value)]`` -> ``[(label, url)]`` for those available."""
    links = []
    for label, endpoint, column, value in pairs:
        url = related_list_url(endpoint, column, value)
        if url:
            links.append((label, url))
    return links
