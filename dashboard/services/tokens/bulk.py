"""Token changes for every user matching a filter ("select all N matching"), and expiry.

Set-based: a fixed handful of statements whatever the number of users (see
``dashboard.services.bulk``). The rules of ``dashboard.services.tokens.ledger`` hold for every user
touched: the matching users are locked, the ledger first explains each balance (opening
balances and corrections), then one UPDATE changes the balances and one INSERT ... SELECT
books a ledger row per user, so ``tokens_check`` stays clean.

- A bulk deduction SKIPS users whose balance is smaller than the amount (they are counted in
  ``skipped_short``) instead of refusing the whole selection: "take 5 tokens from everyone
  matching" then means everyone who has 5. A bulk grant skips users it would push past
  MAX_BALANCE (``skipped_over_limit``).
- With a ``reference`` (e.g. the id of the job running the bulk change) each user's row
  carries ``<reference>:<user id>``; running the same bulk change again skips the users it
  already reached (``skipped_already_applied``).
- Audit: one summary row (``tokens.bulk_grant`` / ``tokens.bulk_deduct`` /
  ``tokens.expire``) with the counts, plus one row per user so that each user's history
  shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import LedgerKind, TokenLedgerEntry, User, utcnow
from dashboard.models.base import Timestamp
from dashboard.permissions import Tool, require_tool
from dashboard.services import bulk
from dashboard.services.audit import audit_record
from dashboard.services.tokens.ledger import MAX_BALANCE, validate_amount, validate_expiry
from dashboard.services.tokens.reconcile import explain_targets_in_transaction

REASON_EXPIRY = "Tokens expired"
# The reference of an EXPIRY row: the same expiry date is never applied twice to a user,
# while tokens granted after it (without a new date) are left alone.
EXPIRY_REFERENCE = "expiry:{user_id}:{expires_at:%Y-%m-%dT%H:%M:%S}.{milliseconds:03d}"


@dataclass(frozen=True)
class BulkTokenResult:
    matched: int  # users the filter matched
    changed: int  # users whose balance changed
    skipped_short: int = 0
    skipped_over_limit: int = 0
    skipped_already_applied: int = 0
    opening_balances: int = 0
    corrections: int = 0
    audit_id: int | None = None  # the summary audit row

    @property
    def skipped(self) -> int:
        return self.skipped_short + self.skipped_over_limit + self.skipped_already_applied


def expiry_reference(user_id: str, expires_at: datetime) -> str:
    """The reference ``tokens_expire`` gives the EXPIRY row of this user and expiry date."""
    return EXPIRY_REFERENCE.format(
        user_id=user_id, expires_at=expires_at, milliseconds=expires_at.microsecond // 1000
    )


def _expiry_reference_expr() -> sa.ColumnElement[str]:
    """``expiry_reference`` computed by the database, for every row at once."""
    if db.session.get_bind().dialect.name == "postgresql":
        stamp = sa.func.to_char(User.tokens_expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS')
    else:
        stamp = sa.func.strftime("%Y-%m-%dT%H:%M:%f", User.tokens_expires_at)
    return sa.literal("expiry:") + User.id + sa.literal(":") + stamp


def _skip_already_applied(kind: LedgerKind) -> int:
    done = sa.exists().where(
        TokenLedgerEntry.kind == kind.value, TokenLedgerEntry.reference == bulk.TARGETS.c.reference
    )
    return bulk.drop_targets_where(sa.and_(bulk.TARGETS.c.reference.is_not(None), done))


def _book_targets(
    *,
    kind: LedgerKind,
    delta: int | None,
    reason: str,
    actor: Actor,
    now: datetime,
    expires_at: datetime | None,
    summary: dict[str, object],
) -> tuple[int, int]:
    """Change the balance of every remaining target by ``delta`` (None: to zero), book a
    ledger row and an audit row for each, after one summary audit row. Returns (changed,
    summary audit id)."""
    targets = bulk.TARGETS
    changed = bulk.target_count()
    summary_row = audit_record(
        actor=actor,
        action="tokens.expire" if kind is LedgerKind.EXPIRY else f"tokens.bulk_{kind.lower()}",
        target_model="User",
        details={**summary, "changed": changed},
        reason=reason,
    )
    db.session.flush()
    if not changed:
        return 0, summary_row.id
    values: dict[str, object] = {"tokens": 0 if delta is None else User.tokens + delta}
    if expires_at is not None:
        values["tokens_expires_at"] = expires_at
    db.session.execute(
        sa.update(User)
        .where(User.id.in_(bulk.target_ids()))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    delta_expr = -targets.c.tokens if delta is None else sa.literal(delta)
    # The targets are locked, so the balance after is exactly the locked one plus the delta.
    after = targets.c.tokens + delta_expr
    source = sa.select(
        targets.c.user_id,
        delta_expr,
        after,
        sa.literal(kind.value),
        sa.literal(reason),
        targets.c.reference,
        sa.literal(expires_at, Timestamp),
        sa.literal(actor.label),
        sa.literal(actor.staff_id, sa.Text),
        sa.literal(now, Timestamp),
    )
    columns = ["user_id", "delta", "balance_after", "kind", "reason", "reference", "expires_at"]
    columns += ["actor_label", "actor_staff_id", "created_at"]
    db.session.execute(sa.insert(TokenLedgerEntry).from_select(columns, source))
    bulk.audit_each_target(
        actor=actor,
        action=f"tokens.{kind.lower()}",
        reason=reason,
        now=now,
        changes=bulk.json_object(tokens=bulk.json_object(before=targets.c.tokens, after=after)),
        details=bulk.json_object(
            delta=delta_expr, reference=targets.c.reference, bulk_audit_id=summary_row.id
        ),
    )
    return changed, summary_row.id


def _bulk_change(
    *,
    user_filter: bulk.UserFilter,
    amount: int,
    kind: LedgerKind,
    reason: str,
    actor: Actor,
    expires_at: datetime | None,
    reference: str | None,
    filter_label: str | None,
) -> BulkTokenResult:
    where = bulk.users_where(user_filter)
    now = utcnow()
    per_user_reference = sa.literal(f"{reference}:") + User.id if reference else None
    delta = amount if kind is LedgerKind.GRANT else -amount
    with unit_of_work():
        with bulk.target_set() as targets:
            matched = bulk.fill_targets(where, reference=per_user_reference)
            already = _skip_already_applied(kind) if reference else 0
            short = over = 0
            if delta < 0:
                short = bulk.drop_targets_where(targets.c.tokens < amount)
            else:
                over = bulk.drop_targets_where(targets.c.tokens > MAX_BALANCE - amount)
            openings, corrections = explain_targets_in_transaction(actor=actor, now=now)
            counts = {
                "matched": matched,
                "skipped_short": short,
                "skipped_over_limit": over,
                "skipped_already_applied": already,
                "opening_balances": openings,
                "corrections": corrections,
            }
            summary = {"amount": amount, "filter": filter_label, "reference": reference}
            if expires_at is not None:
                summary["expires_at"] = expires_at.isoformat()
            changed, audit_id = _book_targets(
                kind=kind,
                delta=delta,
                reason=reason,
                actor=actor,
                now=now,
                expires_at=expires_at,
                summary={**summary, **counts},
            )
    return BulkTokenResult(changed=changed, audit_id=audit_id, **counts)


def tokens_grant_bulk(
    *,
    user_filter: bulk.UserFilter,
    amount: int,
    reason: str,
    actor: Actor,
    expires_at: datetime | None = None,
    reference: str | None = None,
    filter_label: str | None = None,
) -> BulkTokenResult:
    """Grant ``amount`` tokens to every user matching ``user_filter`` (a where-clause over
    User, a SELECT of User ids, or a list of ids); ``expires_at`` (in the future) becomes
    their new ``tokensExpiresAt``. ``filter_label`` describes the selection in the audit
    trail. Raises BackofficeError for a bad amount, expiry or missing reason,
    PermissionDenied for a staff role without ``adjust_tokens``; nothing is written then.
    """
    reason = validate_amount(amount, reason)
    expires_at = validate_expiry(expires_at)  # type: ignore[assignment]
    require_tool(actor, Tool.ADJUST_TOKENS)
    return _bulk_change(
        user_filter=user_filter,
        amount=amount,
        kind=LedgerKind.GRANT,
        reason=reason,
        actor=actor,
        expires_at=expires_at,
        reference=reference,
        filter_label=filter_label,
    )


def tokens_deduct_bulk(
    *,
    user_filter: bulk.UserFilter,
    amount: int,
    reason: str,
    actor: Actor,
    reference: str | None = None,
    filter_label: str | None = None,
) -> BulkTokenResult:
    """Take ``amount`` tokens from every user matching ``user_filter`` who has at least
    that many; the others are skipped and counted in ``skipped_short``. Errors as
    ``tokens_grant_bulk``."""
    reason = validate_amount(amount, reason)
    require_tool(actor, Tool.ADJUST_TOKENS)
    return _bulk_change(
        user_filter=user_filter,
        amount=amount,
        kind=LedgerKind.DEDUCT,
        reason=reason,
        actor=actor,
        expires_at=None,
        reference=reference,
        filter_label=filter_label,
    )


def tokens_expire(*, now: datetime | None = None, actor: Actor | None = None) -> BulkTokenResult:
    """Zero the balance of every user whose ``tokensExpiresAt`` is at or before ``now``
    (default: the current time), with an EXPIRY ledger row each.

    Idempotent: each row's reference is ``expiry:<user id>:<tokensExpiresAt>``, so running it
    again changes nothing, and tokens granted after an expiry without a new date survive
    later runs. ``tokensExpiresAt`` itself is left as it is (the seed app owns its meaning).
    """
    stamp = utcnow()
    now = now or stamp
    actor = actor or Actor.system("tokens-expiry")
    due = sa.and_(User.tokens_expires_at <= now, User.tokens > 0)
    with unit_of_work():
        with bulk.target_set():
            matched = bulk.fill_targets(due, reference=_expiry_reference_expr())
            already = _skip_already_applied(LedgerKind.EXPIRY)
            openings, corrections = explain_targets_in_transaction(actor=actor, now=stamp)
            counts = {
                "matched": matched,
                "skipped_already_applied": already,
                "opening_balances": openings,
                "corrections": corrections,
            }
            changed, audit_id = 0, None
            if matched:
                changed, audit_id = _book_targets(
                    kind=LedgerKind.EXPIRY,
                    delta=None,
                    reason=REASON_EXPIRY,
                    actor=actor,
                    now=stamp,
                    expires_at=None,
                    summary={"as_of": now.isoformat(), **counts},
                )
    return BulkTokenResult(changed=changed, audit_id=audit_id, **counts)
