"""Whether the ledger explains every balance, and booking what it does not.

The rule: what the ledger does not explain of a balance is booked before the balance changes,
as an OPENING_BALANCE row for a user without rows and a CORRECTION row where the balance
drifted from the one the last row recorded. ``explanation_row`` is that rule for one locked
user (the ledger's single and batched changes), ``explain_targets_in_transaction`` for a bulk
change's locked targets, and ``tokens_reconcile`` for every user at once. ``tokens_check``
reports users whose balance and ledger disagree.
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
from dashboard.services import bulk
from dashboard.services.audit import audit_record

REASON_OPENING = "Balance before Backoffice's ledger"
REASON_CORRECTION = "Balance changed outside Backoffice's ledger"


def recorded_balances(user_ids: list[str]) -> dict[str, int]:
    """The balance each user's latest ledger row recorded (users without rows are absent)."""
    return dict(
        db.session.execute(
            sa.select(TokenLedgerEntry.user_id, TokenLedgerEntry.balance_after).where(
                TokenLedgerEntry.id.in_(
                    sa.select(sa.func.max(TokenLedgerEntry.id))
                    .where(TokenLedgerEntry.user_id.in_(user_ids))
                    .group_by(TokenLedgerEntry.user_id)
                )
            )
        ).all()
    )


def explanation_row(
    user_id: str, balance: int, recorded: int | None, actor: Actor
) -> TokenLedgerEntry | None:
    """The unsaved row booking what the ledger does not explain of a (locked) balance, given
    the balance the user's last row ``recorded``: an opening balance for a user without rows,
    a correction where the balance drifted; None when the ledger explains it."""
    if balance == (recorded or 0):
        return None
    opening = recorded is None
    return TokenLedgerEntry(
        user_id=user_id,
        delta=balance - (recorded or 0),
        balance_after=balance,
        kind=LedgerKind.OPENING_BALANCE if opening else LedgerKind.CORRECTION,
        reason=REASON_OPENING if opening else REASON_CORRECTION,
        actor_label=actor.label,
        actor_staff_id=actor.staff_id,
        created_at=utcnow(),
    )


@dataclass(frozen=True)
class LedgerMismatch:
    user_id: str
    email: str
    balance: int
    ledger_total: int
    last_balance_after: int | None


def tokens_check(limit: int | None = None) -> list[LedgerMismatch]:
    """Every user whose balance differs from their ledger (sum of deltas, and the balance
    the last row recorded), in id order, at most ``limit``. A user with no ledger rows must
    have a zero balance."""
    totals = (
        sa.select(
            TokenLedgerEntry.user_id.label("user_id"),
            sa.func.sum(TokenLedgerEntry.delta).label("total"),
            sa.func.max(TokenLedgerEntry.id).label("last_id"),
        )
        .group_by(TokenLedgerEntry.user_id)
        .subquery()
    )
    last = sa.orm.aliased(TokenLedgerEntry)
    query = (
        sa.select(User.id, User.email, User.tokens, totals.c.total, last.balance_after)
        .outerjoin(totals, totals.c.user_id == User.id)
        .outerjoin(last, last.id == totals.c.last_id)
        .where(
            sa.or_(
                sa.func.coalesce(totals.c.total, 0) != User.tokens,
                sa.and_(last.id.is_not(None), last.balance_after != User.tokens),
            )
        )
        .order_by(User.id)
    )
    if limit:
        query = query.limit(limit)
    return [
        LedgerMismatch(row[0], row[1], row[2], int(row[3] or 0), row[4])
        for row in db.session.execute(query)
    ]


def _recorded_balance_of_target() -> sa.ScalarSelect[int]:
    return (
        sa.select(TokenLedgerEntry.balance_after)
        .where(TokenLedgerEntry.user_id == bulk.TARGETS.c.user_id)
        .order_by(TokenLedgerEntry.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def explain_targets_in_transaction(*, actor: Actor, now: datetime) -> tuple[int, int]:
    """For every user in the (locked) bulk target set, book what the ledger does not
    explain of their balance, in the caller's transaction: (opening balances, corrections)
    booked. One pass over the targets; only the rows booked come back."""
    targets = bulk.TARGETS
    recorded = (
        sa.select(targets.c.user_id, targets.c.tokens, _recorded_balance_of_target().label("r"))
        .select_from(targets)
        .subquery()
    )
    opening = recorded.c.r.is_(None)
    source = sa.select(
        recorded.c.user_id,
        recorded.c.tokens - sa.func.coalesce(recorded.c.r, 0),
        recorded.c.tokens,
        sa.case((opening, LedgerKind.OPENING_BALANCE.value), else_=LedgerKind.CORRECTION.value),
        sa.case((opening, REASON_OPENING), else_=REASON_CORRECTION),
        sa.literal(actor.label),
        sa.literal(actor.staff_id, sa.Text),
        sa.literal(now, Timestamp),
    ).where(recorded.c.tokens != sa.func.coalesce(recorded.c.r, 0))
    columns = ["user_id", "delta", "balance_after", "kind", "reason", "actor_label"]
    booked = db.session.execute(
        sa.insert(TokenLedgerEntry)
        .from_select([*columns, "actor_staff_id", "created_at"], source)
        .returning(TokenLedgerEntry.kind)
    ).scalars()
    kinds = [LedgerKind(kind) for kind in booked]
    openings = kinds.count(LedgerKind.OPENING_BALANCE)
    return openings, len(kinds) - openings


def tokens_reconcile(*, actor: Actor) -> tuple[int, int]:
    """Make the ledger explain every balance: an OPENING_BALANCE row for each user with a
    balance and no ledger rows, a CORRECTION row for each user whose balance differs from
    the one their last ledger row recorded. Returns (opening balances, corrections).

    Set-based and locking only the users it books, so it is fast on an adopted database.
    A ledger whose rows do not add up to their own last balance (rows edited by hand) is
    not repaired here; ``tokens_check`` keeps reporting it.
    """
    drifted = User.tokens != sa.func.coalesce(
        sa.select(TokenLedgerEntry.balance_after)
        .where(TokenLedgerEntry.user_id == User.id)
        .order_by(TokenLedgerEntry.id.desc())
        .limit(1)
        .scalar_subquery(),
        0,
    )
    with unit_of_work():
        with bulk.target_set():
            bulk.fill_targets(drifted)
            openings, corrections = explain_targets_in_transaction(actor=actor, now=utcnow())
        if openings or corrections:
            audit_record(
                actor=actor,
                action="tokens.reconcile",
                details={"opening_balances": openings, "corrections": corrections},
            )
    return openings, corrections
