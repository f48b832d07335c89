"""Before/after values of a model row for the audit trail, read from SQLAlchemy's attribute
history (so they are what the form changed, not what it sent)."""

from __future__ import annotations

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


def pending_changes(model: Any) -> dict[str, Any]:
    """``{"field": {"before", "after"}}`` for the attributes changed since the row was
    loaded (call before the flush that would clear the history). Many-to-one relationships
    are recorded by the related row's id."""
    state = sa.inspect(model)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.attrs:
        prop = getattr(state.mapper.attrs, attr.key)
        if isinstance(prop, RelationshipProperty) and prop.uselist:
            continue  # reverse collections: never in Backoffice forms
        history = attr.history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if isinstance(prop, RelationshipProperty):
            old, new = _related_id(old), _related_id(new)
        before[attr.key] = old
        after[attr.key] = new
    return changes_between(before, after)


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
