"""Before/after values of a model row for the audit trail, read from SQLAlchemy's attribute
history (so they are what the form changed, not what it sent)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import RelationshipProperty

from dashboard.services.audit import changes_between


def primary_key(model: Any) -> str:
    identity = sa.inspect(model).identity
    if identity is None:
        return ""
    return ":".join(str(part) for part in identity)


def column_values(model: Any) -> dict[str, Any]:
    """Every column attribute of ``model`` by attribute name."""
    mapper = sa.inspect(type(model))
    return {attr.key: getattr(model, attr.key) for attr in mapper.column_attrs}


def _related_id(value: Any) -> Any:
    if value is None:
        return None
    state = sa.inspect(value, raiseerr=False)
    identity = getattr(state, "identity", None)
    return ":".join(str(part) for part in identity) if identity else str(value)


def changed_before(model: Any) -> dict[str, Any]:
    """The previous values of the attributes changed since the row was loaded (history is
    cleared by a flush, so call this before one). Many-to-one relationships are given by the
    related row's id; reverse collections are never in Backoffice forms and are skipped."""
    state = sa.inspect(model)
    before: dict[str, Any] = {}
    for attr in state.attrs:
        prop = state.mapper.attrs[attr.key]
        if isinstance(prop, RelationshipProperty) and prop.uselist:
            continue
        history = attr.history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        before[attr.key] = _related_id(old) if isinstance(prop, RelationshipProperty) else old
    return before


def current_values(model: Any, names: Iterable[str]) -> dict[str, Any]:
    mapper = sa.inspect(type(model))
    values = {}
    for name in names:
        value = getattr(model, name)
        values[name] = (
            _related_id(value) if isinstance(mapper.attrs[name], RelationshipProperty) else value
        )
    return values


def pending_changes(model: Any) -> dict[str, Any]:
    """``{"field": {"before", "after"}}`` for the attributes changed since the row was loaded."""
    before = changed_before(model)
    return changes_between(before, current_values(model, before))


def created_changes(model: Any) -> dict[str, Any]:
    """All set values of a new (flushed) row as changes from nothing."""
    values = {key: value for key, value in column_values(model).items() if value is not None}
    return changes_between({}, values)


def deleted_changes(model: Any) -> dict[str, Any]:
    """All values of a row about to be deleted as changes to nothing."""
    values = {key: value for key, value in column_values(model).items() if value is not None}
    return {
        name: {"before": change["after"], "after": None}
        for name, change in changes_between({}, values).items()
    }
