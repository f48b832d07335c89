"""Writing the audit trail. Every service that changes data calls ``audit_record`` in the
same transaction as the change, so the two are committed or rolled back together."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import AuditLog

REDACTED = "[redacted]"
# Column and attribute names whose values never reach the audit trail.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "session_token",
        "sessionToken",
        "token",
        "password",
        "password_hash",
        "totp_secret",
        "recovery_code_hashes",
        "secret",
        "api_key",
        "stripe_secret_key",
        "webhook_secret",
    }
)


def _plain(value: Any) -> Any:
    """A JSON-safe form of a column value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{"field": {"before": old, "after": new}}`` for the fields whose value changed,
    with secret fields redacted."""
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if _plain(old) == _plain(new):
            continue
        if name in SECRET_FIELDS:
            changes[name] = {"before": REDACTED, "after": REDACTED}
        else:
            changes[name] = {"before": _plain(old), "after": _plain(new)}
    return changes


def redact(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: (REDACTED if key in SECRET_FIELDS else _plain(value)) for key, value in values.items()
    }


def audit_record(
    *,
    actor: Actor,
    action: str,
    target_model: str | None = None,
    target_id: str | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditLog:
    """Add an audit row to the current transaction (the caller commits).

    ``action`` is a dotted verb such as ``user.ban`` or ``model.update``; ``changes`` maps
    field names to ``{"before", "after"}`` (see ``changes_between``); ``details`` holds
    anything else worth keeping (counts, filters of an export). Secrets are redacted.
    """
    if changes:
        changes = {
            name: ({"before": REDACTED, "after": REDACTED} if name in SECRET_FIELDS else value)
            for name, value in changes.items()
        }
    entry = AuditLog(
        actor_label=actor.label,
        actor_staff_id=actor.staff_id,
        action=action,
        target_model=target_model,
        target_id=target_id,
        changes=changes or None,
        details=redact(details),
        reason=reason,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:500] or None,
    )
    db.session.add(entry)
    return entry
