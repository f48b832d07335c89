"""Full resync: walk every Stripe listing and bring the local copy in line.

Rules:
- Walks archived products and prices too (no ``active`` filter) and subscriptions with
  ``status='all'``; invoices are listed with their ``payments`` expanded.
- Each page goes through the same upserts as webhooks (services.stripe_sync) and is
  committed on its own, so a long run holds no locks for long. A page that fails as a whole
  is retried object by object: a failed object is counted and listed with its reason,
  never fatal.
- Local products and prices that the (completed) listing no longer shows are made
  inactive, never deleted, unless a read after the listing started says otherwise.
- Idempotent: a second run right after reports 0 created and 0 updated.
- One at a time: a PostgreSQL advisory lock (a process lock on SQLite); a second request
  raises Conflict. Every run, dry or not, is audited.
- ``dry_run`` does everything in one transaction and rolls it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.jobs import job_create
from dashboard.models import (
    Job,
    JobStatus,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    UserSubscription,
    utcnow,
)
from dashboard.permissions import Tool, require_tool
from dashboard.services.audit import audit_record
from dashboard.services.stripe.gateway import (
    Gateway,
    StripeSettings,
    now_micros,
    scrub,
    stripe_gateway,
)
from dashboard.services.stripe.store import SYNC_COMMIT_OFF, TypeReport
from dashboard.services.stripe.sync import (
    stripe_customers_upsert,
    stripe_invoices_upsert,
    stripe_objects_gone,
    stripe_prices_upsert,
    stripe_products_upsert,
    stripe_subscriptions_upsert,
)

RESYNC_TYPES = ("products", "prices", "customers", "subscriptions", "payments")
ERR_ONLY = "Unknown type(s) {names}; choose from " + ", ".join(RESYNC_TYPES) + "."
ERR_RUNNING = "A Stripe resync is already running; wait for it to finish."
ERR_LIVEMODE = "livemode {got} does not match the configured key"
ERR_LISTING = "listing stopped: {reason}"
# pg_advisory_lock key: "BOSTRIPE" read as 8 bytes, so no other lock user collides.
LOCK_KEY = int.from_bytes(b"BOSTRIPE", "big") - 2**63
_sqlite_lock = threading.Lock()

LISTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "products": ("products", {}),
    "prices": ("prices", {}),
    "customers": ("customers", {}),
    "subscriptions": ("subscriptions", {"status": "all"}),
    "payments": ("invoices", {"expand": ["data.payments"]}),
}
LOCAL_COUNT = {
    "products": StripeProduct.id,
    "prices": StripePrice.id,
    "customers": StripeCustomer.id,
    "subscriptions": UserSubscription.id,
    "payments": None,
}


@dataclass(frozen=True)
class ResyncProgress:
    phase: str
    seen: int
    percent: int


@dataclass
class ResyncReport:
    types: dict[str, TypeReport] = field(default_factory=dict)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(report.failed for report in self.types.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "types": {name: report.to_dict() for name, report in self.types.items()},
            "dry_run": self.dry_run,
            "ok": self.failed == 0,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
        }


def resync_types(only: list[str] | None) -> list[str]:
    """The types to sync, in dependency order; BackofficeError for unknown names."""
    if not only:
        return list(RESYNC_TYPES)
    unknown = sorted(set(only) - set(RESYNC_TYPES))
    if unknown:
        raise BackofficeError(ERR_ONLY.format(names=", ".join(unknown)))
    return [name for name in RESYNC_TYPES if name in only]


@contextmanager
def resync_lock() -> Iterator[None]:
    """Hold the resync lock for the block; Conflict if another resync holds it."""
    bind = db.engines[None]
    if bind.dialect.name != "postgresql":
        if not _sqlite_lock.acquire(blocking=False):
            raise Conflict(ERR_RUNNING)
        try:
            yield
        finally:
            _sqlite_lock.release()
        return
    # A connection of its own: the session's commits must not end a session-level lock.
    connection = bind.connect() if isinstance(bind, sa.Engine) else bind
    try:
        got = connection.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar()
        if not got:
            raise Conflict(ERR_RUNNING)
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
    finally:
        if connection is not bind:
            connection.close()


def resync_running() -> bool:
    try:
        with resync_lock():
            return False
    except Conflict:
        return True


def _upsert(kind: str, objects: list[dict], fetched_at: int, gateway: Gateway, actor: Actor):
    if kind == "products":
        return stripe_products_upsert(objects=objects, fetched_at=fetched_at)
    if kind == "prices":
        return stripe_prices_upsert(objects=objects, fetched_at=fetched_at, gateway=gateway)
    if kind == "customers":
        return stripe_customers_upsert(objects=objects, fetched_at=fetched_at)
    if kind == "subscriptions":
        return stripe_subscriptions_upsert(
            objects=objects, fetched_at=fetched_at, gateway=gateway, actor=actor
        )
    return stripe_invoices_upsert(
        objects=objects, fetched_at=fetched_at, gateway=gateway, actor=actor
    )


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc) or exc.__class__.__name__
    return scrub(text.strip().splitlines()[0])


def _apply_page(
    kind: str, objects: list[dict], fetched_at: int, gateway: Gateway, actor: Actor
) -> TypeReport:
    try:
        with db.session.begin_nested():
            return _upsert(kind, objects, fetched_at, gateway, actor)
    except (SQLAlchemyError, BackofficeError):
        pass
    report = TypeReport()
    for obj in objects:
        try:
            with db.session.begin_nested():
                report.merge(_upsert(kind, [obj], fetched_at, gateway, actor))
        except (SQLAlchemyError, BackofficeError) as exc:
            report.fail(obj.get("id", "?"), _reason(exc))
    return report


class _Phase:
    """Progress of one listing, reported at most twice a second."""

    def __init__(self, kind: str, index: int, total: int, progress: Callable | None) -> None:
        self.kind, self.index, self.total, self.progress = kind, index, total, progress
        column = LOCAL_COUNT[kind]
        self.expected = db.session.scalar(sa.select(sa.func.count(column))) if column else 0
        self.seen = 0
        self._last = 0.0

    def tick(self, count: int, *, force: bool = False) -> None:
        self.seen += count
        if self.progress is None or (not force and time.monotonic() - self._last < 0.5):
            return
        self._last = time.monotonic()
        fraction = min(0.99, self.seen / self.expected) if self.expected else 0.5
        percent = int(100 * (self.index + (1.0 if force else fraction)) / self.total)
        self.progress(ResyncProgress(self.kind, self.seen, percent))


def _run_phase(
    kind: str, phase: _Phase, gateway: Gateway, actor: Actor, dry_run: bool
) -> TypeReport:
    resource, params = LISTINGS[kind]
    report = TypeReport()
    seen: set[str] = set()
    started = now_micros()
    try:
        for page in gateway.list_pages(resource, params):
            mine = []
            for obj in page.objects:
                if obj.get("livemode", gateway.livemode) != gateway.livemode:
                    report.fail(obj["id"], ERR_LIVEMODE.format(got=obj.get("livemode")))
                else:
                    mine.append(obj)
            seen.update(obj["id"] for obj in page.objects)
            if not dry_run and db.session.get_bind().dialect.name == "postgresql":
                # Pages need not wait for their WAL flush: a crash only loses the last
                # pages of a run that is re-run anyway, and the final audit commit flushes.
                db.session.execute(SYNC_COMMIT_OFF)
            report.merge(_apply_page(kind, mine, page.fetched_at, gateway, actor))
            # Not a unit of work: each page commits on its own so a long run holds no locks
            # for long, while a dry run keeps every page in the one transaction that
            # stripe_resync rolls back. Run outside any caller's unit of work.
            if not dry_run:
                db.session.commit()
            phase.tick(len(page.objects))
    except BackofficeError as exc:
        report.fail(resource, ERR_LISTING.format(reason=exc.message))
        return report
    if kind in ("products", "prices"):
        model = StripeProduct if kind == "products" else StripePrice
        stale = db.session.scalars(sa.select(model.id).where(model.active.is_(True))).all()
        gone = [object_id for object_id in stale if object_id not in seen]
        report.deactivated += stripe_objects_gone(model=model, object_ids=gone, fetched_at=started)
        if not dry_run:
            db.session.commit()
    phase.tick(0, force=True)
    return report


def stripe_resync(
    *,
    actor: Actor,
    settings: StripeSettings,
    only: list[str] | None = None,
    dry_run: bool = False,
    progress: Callable[[ResyncProgress], None] | None = None,
) -> ResyncReport:
    """Sync ``only`` these types (default all) from Stripe, reporting per type.

    Raises BackofficeError for unknown types or when Stripe is not configured, Conflict
    when a resync is already running. Failures of single objects are in the report.
    """
    kinds = resync_types(only)
    gateway = stripe_gateway(settings)
    report = ResyncReport(dry_run=dry_run)
    started = time.monotonic()
    with resync_lock():
        try:
            for index, kind in enumerate(kinds):
                phase = _Phase(kind, index, len(kinds), progress)
                report.types[kind] = _run_phase(kind, phase, gateway, actor, dry_run)
        finally:
            if dry_run:
                db.session.rollback()
        report.seconds = time.monotonic() - started
        with unit_of_work():
            audit_record(
                actor=actor,
                action="stripe.resync",
                details={"only": kinds, **report.to_dict()},
            )
    return report


def stripe_resync_request(
    *,
    actor: Actor,
    settings: StripeSettings,
    only: list[str] | None = None,
    dry_run: bool = False,
) -> Job:
    """Queue a resync as a ``stripe_resync`` job (the admin's "Resync Stripe"), audited.
    Raises PermissionDenied for staff without the resync tool, Conflict when one is queued
    or running, BackofficeError for unknown types."""
    require_tool(actor, Tool.RESYNC_STRIPE)
    kinds = resync_types(only)
    # Requested ones only (scheduled refreshes carry an idempotency key and take seconds),
    # and not ones a dead worker left behind.
    recent = utcnow() - timedelta(seconds=settings.job_timeout)
    waiting = db.session.scalar(
        sa.select(Job.id).where(
            Job.kind == "stripe_resync",
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.idempotency_key.is_(None),
            Job.created_at > recent,
        )
    )
    if waiting is not None or resync_running():
        raise Conflict(ERR_RUNNING)
    with unit_of_work():
        job = job_create(
            kind="stripe_resync", actor=actor, params={"only": kinds, "dry_run": dry_run}
        )
        audit_record(
            actor=actor,
            action="stripe.resync_requested",
            target_model="Job",
            target_id=job.id,
            details={"only": kinds, "dry_run": dry_run},
        )
    return job
