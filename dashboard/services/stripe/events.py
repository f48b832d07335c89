"""Receiving, recording, applying and replaying Stripe events.

Rules (notes/stripe.md, properties 1-5, 23, 24):
- The signature is checked on the raw body against every configured secret (rotation),
  with the configured tolerance; a bad or stale one answers 400 and writes nothing.
- Every delivery is stored in ``bo_stripe_event`` and committed BEFORE it is acted on; a
  repeated delivery of the same id only counts an attempt. Only then is 2xx possible.
- Applying an event is one transaction: the event row is locked (so concurrent deliveries
  of one event apply it once), the handler runs (services.stripe_handlers), and
  ``processed_at`` is set. A failure rolls all of it back, records the error on the row and
  answers 500 so Stripe retries. Types without a handler are acknowledged (200).
- An event whose ``livemode`` differs from the configured key's is stored and refused (400):
  test and live data are never mixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import StripeEventRecord, utcnow
from dashboard.permissions import Tool, require_tool
from dashboard.services.audit import audit_record
from dashboard.services.stripe.gateway import (
    Gateway,
    SignatureError,
    StripeConfigError,
    StripeSettings,
    scrub,
    stripe_gateway,
    verify_signature,
)
from dashboard.services.stripe.handlers import EVENT_HANDLERS
from dashboard.services.stripe.mapping import ts
from dashboard.services.stripe.store import (
    MAX_LISTED,
    SYNC_COMMIT_OFF,
    cached_statement,
    dialect_insert,
)

WEBHOOK_ACTOR = Actor.system("stripe-webhook")
ERR_PAYLOAD = "The body is not a Stripe event."
ERR_LIVEMODE = "A {event} event was sent to an endpoint configured with a {key} key; refused."
ERR_NOT_FOUND = "No stored Stripe event {event_id}."
ERR_FAILED = "Processing failed; the error is recorded on the event."
IGNORED = "ignored: no handler for this type"
# A child of the app's logger ("dashboard"), so its lines reach the same handlers.
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """How a delivery went, as the webhook answers it."""

    status_code: int
    message: str
    event_id: str | None = None


def _mode(live: bool) -> str:
    return "live-mode" if live else "test-mode"


def _parse(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BackofficeError(ERR_PAYLOAD) from None
    valid = (
        isinstance(event, dict)
        and event.get("object") == "event"
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance((event.get("data") or {}).get("object"), dict)
    )
    if not valid:
        raise BackofficeError(ERR_PAYLOAD)
    return event


def stripe_event_record(*, event: dict[str, Any], source: str, error: str | None = None) -> bool:
    """Store a delivery (or count one more attempt of a stored one) and commit. Returns
    whether the event was already processed."""
    values = {
        "id": event["id"],
        "type": event["type"],
        "created": ts(event["created"]),
        "livemode": bool(event.get("livemode")),
        "api_version": event.get("api_version"),
        "payload": event,
        "source": source,
        "received_at": utcnow(),
        "attempts": 1,
        "error": error,
    }
    with unit_of_work():
        if db.session.get_bind().dialect.name == "postgresql":
            # No WAL flush wait here: the row is visible at once, and the commit of the
            # processing transaction (or of its error) flushes this one too before any answer
            # goes out. A crash in between loses no acknowledged delivery: Stripe resends it.
            db.session.execute(SYNC_COMMIT_OFF)
        stmt = cached_statement(("event_record",), _record_statement)
        processed_at = db.session.execute(stmt, values).scalar_one()
    return processed_at is not None


def _record_statement() -> Any:
    table = StripeEventRecord.__table__
    stmt = dialect_insert(table)
    error = sa.func.coalesce(stmt.excluded.error, table.c.error)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.id], set_={"attempts": table.c.attempts + 1, "error": error}
    ).returning(table.c.processed_at)


def _apply(
    event_id: str,
    gateway: Gateway,
    *,
    again: bool,
    before_commit: Callable[[str], None] | None = None,
) -> Receipt:
    table = StripeEventRecord.__table__
    try:
        with unit_of_work():
            # Locked until commit: a concurrent delivery of the same event waits here, then
            # finds it processed.
            row = db.session.execute(
                sa.select(table.c.type, table.c.payload, table.c.processed_at)
                .where(table.c.id == event_id)
                .with_for_update()
            ).one()
            if row.processed_at is not None and not again:
                return Receipt(200, "duplicate: already processed", event_id)
            handler = EVENT_HANDLERS.get(row.type)
            outcome = handler(gateway, row.payload, WEBHOOK_ACTOR) if handler else IGNORED
            db.session.execute(
                sa.update(table)
                .where(table.c.id == event_id)
                .values(processed_at=utcnow(), outcome=outcome, error=None)
            )
            if before_commit:
                before_commit(outcome)
        return Receipt(200, outcome, event_id)
    except Exception as exc:  # any failure must answer 500 with the row telling why
        # The unit rolled the attempt back; the reason is written in a transaction of its own.
        reason = scrub(str(getattr(exc, "message", None) or exc) or exc.__class__.__name__)
        log.warning("Stripe event %s failed: %s", event_id, reason)
        with unit_of_work():
            db.session.execute(
                sa.update(StripeEventRecord)
                .where(StripeEventRecord.id == event_id)
                .values(error=reason[:2000])
            )
        return Receipt(500, reason, event_id)


def stripe_webhook_receive(
    *, payload: bytes, signature: str | None, settings: StripeSettings
) -> Receipt:
    """Verify, record and apply one webhook delivery; the Receipt says what to answer."""
    try:
        verify_signature(
            payload, signature, list(settings.webhook_secrets), settings.webhook_tolerance
        )
        event = _parse(payload)
    except StripeConfigError as exc:
        return Receipt(500, exc.message)
    except (SignatureError, BackofficeError) as exc:
        return Receipt(400, exc.message)
    try:
        gateway = stripe_gateway(settings)
    except StripeConfigError as exc:
        stripe_event_record(event=event, source="webhook", error=exc.message)
        return Receipt(500, exc.message, event["id"])
    if bool(event.get("livemode")) != gateway.livemode:
        message = ERR_LIVEMODE.format(
            event=_mode(bool(event.get("livemode"))), key=_mode(gateway.livemode)
        )
        stripe_event_record(event=event, source="webhook", error=message)
        return Receipt(400, message, event["id"])
    if stripe_event_record(event=event, source="webhook"):
        return Receipt(200, "duplicate: already processed", event["id"])
    receipt = _apply(event["id"], gateway, again=False)
    if receipt.status_code >= 500:
        return Receipt(500, ERR_FAILED, event["id"])
    return receipt


def stripe_event_replay(*, event_id: str, actor: Actor, settings: StripeSettings) -> Receipt:
    """Apply a stored event again (the admin's "replay"), audited. Handlers re-fetch, so a
    replay only changes what differs from Stripe now. Raises PermissionDenied for staff
    without the replay tool, NotFound, BackofficeError."""
    require_tool(actor, Tool.REPLAY_WEBHOOKS)
    row = db.session.get(StripeEventRecord, event_id)
    if row is None:
        raise NotFound(ERR_NOT_FOUND.format(event_id=event_id))
    gateway = stripe_gateway(settings)
    if row.livemode != gateway.livemode:
        raise BackofficeError(
            ERR_LIVEMODE.format(event=_mode(row.livemode), key=_mode(gateway.livemode))
        )

    def audit(outcome: str) -> None:
        audit_record(
            actor=actor,
            action="stripe.event_replay",
            target_model="StripeEvent",
            target_id=event_id,
            details={"type": row.type, "outcome": outcome},
        )

    receipt = _apply(event_id, gateway, again=True, before_commit=audit)
    if receipt.status_code >= 500:  # rolled back with the failed attempt: audit it apart
        with unit_of_work():
            audit(f"failed: {receipt.message}")
    return receipt


@dataclass
class ReplayReport:
    seen: int = 0
    already_processed: int = 0
    applied: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def fail(self, event_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append({"id": event_id, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def replay_default_since() -> datetime | None:
    """Where a replay after downtime starts: an hour before the newest processed event
    (deliveries arrive out of order), or None when nothing was ever processed."""
    newest = db.session.scalar(
        sa.select(sa.func.max(StripeEventRecord.created)).where(
            StripeEventRecord.processed_at.is_not(None)
        )
    )
    return None if newest is None else newest - timedelta(hours=1)


def stripe_events_replay(
    *,
    since: datetime,
    actor: Actor,
    settings: StripeSettings,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Pull ``/v1/events`` created since ``since`` (naive UTC) and apply, oldest first,
    those not processed yet, through the same path as the webhook. Audited."""
    gateway = stripe_gateway(settings)
    report = ReplayReport()
    events: list[dict[str, Any]] = []
    stamp = int(since.replace(tzinfo=UTC).timestamp())
    for page in gateway.list_pages("events", {"created": {"gte": stamp}}):
        events.extend(page.objects)
    for event in reversed(events):  # the listing is newest first
        report.seen += 1
        if bool(event.get("livemode")) != gateway.livemode:
            report.fail(event["id"], "livemode mismatch")
            continue
        if stripe_event_record(event=event, source="events-api"):
            report.already_processed += 1
        else:
            receipt = _apply(event["id"], gateway, again=False)
            if receipt.status_code >= 500:
                report.fail(event["id"], receipt.message)
            else:
                report.applied += 1
        if progress:
            progress(report.seen)
    with unit_of_work():
        audit_record(
            actor=actor,
            action="stripe.events_replay",
            details={"since": since.isoformat(), **report.to_dict()},
        )
    return report
