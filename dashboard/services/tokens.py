"""Token balances and their ledger.

Rules:
- Every change to ``User.tokens`` is one ``bo_token_ledger`` row written in the same
  transaction, holding the delta and the balance after it; the two never disagree.
- The balance changes by one guarded statement (``tokens = tokens + :delta`` only where the
  result stays >= 0), so concurrent grants and deductions on one user serialise on that row
  and no deduction can drive a balance below zero.
- A change that carries a ``reference`` (an invoice id, a job id) is applied at most once
  per (kind, reference): retrying it returns the first entry and changes nothing.
- A balance that predates Backoffice (an adopted database) is booked as an
  OPENING_BALANCE row the first time the user is touched (or by ``tokens_reconcile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import LedgerKind, TokenLedgerEntry, User, utcnow
from dashboard.services.actor import Actor
from dashboard.services.audit import audit_record
from dashboard.services.errors import BackofficeError, NotFound

ERR_AMOUNT = "The amount must be a whole number greater than zero."
ERR_REASON = "A reason is required."
ERR_INSUFFICIENT = "Cannot deduct {amount} tokens: {email} has only {balance}."
ERR_USER = "No user with id {user_id}."
ERR_TOO_LARGE = "The amount is too large (at most {limit:,} tokens at once)."
MAX_AMOUNT = 1_000_000
OPENING_REASON = "Balance before Backoffice's ledger"

# Kinds that add tokens and kinds that remove them; the sign of the delta follows.
CREDIT_KINDS = frozenset(
    {
        LedgerKind.GRANT,
        LedgerKind.SUBSCRIPTION_GRANT,
        LedgerKind.GENERATION_REFUND,
    }
)
DEBIT_KINDS = frozenset({LedgerKind.DEDUCT, LedgerKind.GENERATION_CHARGE, LedgerKind.EXPIRY})
_UNSET = object()


class InsufficientTokens(BackofficeError):
    """The balance does not cover a deduction; nothing was written."""


@dataclass(frozen=True)
class TokenChange:
    entry: TokenLedgerEntry
    balance_before: int
    balance_after: int
    applied: bool  # False when a change with the same reference existed already


def _lock_user(user_id: str) -> User:
    """Load the user holding a row lock, so a user's balance changes one at a time."""
    user = db.session.execute(
        sa.select(User).where(User.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(ERR_USER.format(user_id=user_id))
    return user


def _ledger_total(user_id: str) -> tuple[int, int]:
    """(number of ledger rows, sum of their deltas) for a user."""
    count, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(TokenLedgerEntry.delta), 0)).where(
            TokenLedgerEntry.user_id == user_id
        )
    ).one()
    return count, int(total)


def _ensure_opening_balance(user: User, actor: Actor) -> None:
    """Book a pre-Backoffice balance so that the ledger explains it."""
    count, total = _ledger_total(user.id)
    if count == 0 and user.tokens != 0:
        db.session.add(
            TokenLedgerEntry(
                user_id=user.id,
                delta=user.tokens,
                balance_after=user.tokens,
                kind=LedgerKind.OPENING_BALANCE,
                reason="Balance before Backoffice's ledger",
                actor_label=actor.label,
                actor_staff_id=actor.staff_id,
            )
        )
        db.session.flush()


def _existing(kind: LedgerKind, reference: str | None) -> TokenLedgerEntry | None:
    if reference is None:
        return None
    return db.session.execute(
        sa.select(TokenLedgerEntry).where(
            TokenLedgerEntry.kind == kind, TokenLedgerEntry.reference == reference
        )
    ).scalar_one_or_none()


def tokens_apply(
    *,
    user_id: str,
    delta: int,
    kind: LedgerKind,
    reason: str | None,
    actor: Actor,
    reference: str | None = None,
    expires_at: datetime | None | object = _UNSET,
    audit: bool = True,
) -> TokenChange:
    """Change a user's balance by ``delta`` and book it, in the caller's transaction.

    ``expires_at`` (when given, even as None) also sets ``User.tokensExpiresAt``. Raises
    InsufficientTokens when the result would be negative, NotFound for an unknown user.
    Does not commit: the caller owns the transaction (the ``tokens_grant``/``tokens_deduct``
    wrappers commit).
    """
    existing = _existing(kind, reference)
    if existing is not None:
        return TokenChange(
            existing, existing.balance_after - existing.delta, existing.balance_after, applied=False
        )
    user = _lock_user(user_id)
    # Re-check under the lock: a concurrent twin may have committed meanwhile.
    existing = _existing(kind, reference)
    if existing is not None:
        return TokenChange(
            existing, existing.balance_after - existing.delta, existing.balance_after, applied=False
        )
    _ensure_opening_balance(user, actor)
    before = user.tokens
    values: dict[str, object] = {"tokens": User.tokens + delta}
    if expires_at is not _UNSET:
        values["tokens_expires_at"] = expires_at
    after = db.session.execute(
        sa.update(User)
        .where(User.id == user_id, User.tokens + delta >= 0)
        .values(**values)
        .returning(User.tokens)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if after is None:
        raise InsufficientTokens(
            ERR_INSUFFICIENT.format(amount=-delta, email=user.email, balance=before)
        )
    entry = TokenLedgerEntry(
        user_id=user_id,
        delta=delta,
        balance_after=after,
        kind=kind,
        reason=reason,
        reference=reference,
        actor_label=actor.label,
        actor_staff_id=actor.staff_id,
        expires_at=None if expires_at is _UNSET else expires_at,
    )
    db.session.add(entry)
    changes = {"tokens": {"before": before, "after": after}}
    if expires_at is not _UNSET and expires_at != user.tokens_expires_at:
        changes["tokensExpiresAt"] = {
            "before": user.tokens_expires_at.isoformat() if user.tokens_expires_at else None,
            "after": expires_at.isoformat() if isinstance(expires_at, datetime) else None,
        }
    if audit:
        audit_record(
            actor=actor,
            action=f"tokens.{kind.value.lower()}",
            target_model="User",
            target_id=user_id,
            changes=changes,
            reason=reason,
            details={"delta": delta, "reference": reference} if reference else {"delta": delta},
        )
    db.session.flush()
    db.session.expire(user)
    return TokenChange(entry, before, after, applied=True)


@dataclass(frozen=True)
class LedgerRequest:
    """One change for ``tokens_apply_many``."""

    user_id: str
    delta: int
    kind: LedgerKind
    reason: str | None
    reference: str | None = None
    expires_at: datetime | None = None  # also sets User.tokensExpiresAt when given


def tokens_apply_many(*, requests: list[LedgerRequest], actor: Actor) -> int:
    """``tokens_apply`` for many changes in a constant number of statements (the Stripe
    resync's token grants), in the caller's transaction: the same rules (at most once per
    (kind, reference); an opening balance booked first; one ledger row and one audit row per
    change; no balance below zero, else InsufficientTokens and nothing is written). Users are
    locked in id order. Returns how many changes were applied."""
    todo: dict[tuple[LedgerKind, str | None], LedgerRequest] = {}
    for number, request in enumerate(requests):
        todo.setdefault((request.kind, request.reference or f"#{number}"), request)
    ids = sorted({r.user_id for r in todo.values()})
    if not ids:
        return 0
    locked = {
        row.id: row
        for row in db.session.execute(
            sa.select(User.id, User.email, User.tokens, User.tokens_expires_at)
            .where(User.id.in_(ids))
            .order_by(User.id)
            .with_for_update()
        )
    }
    missing = [user_id for user_id in ids if user_id not in locked]
    if missing:
        raise NotFound(ERR_USER.format(user_id=missing[0]))
    # Checked under the user locks: a concurrent twin may have committed meanwhile.
    references = [r.reference for r in todo.values() if r.reference]
    done = {
        (row.kind, row.reference)
        for row in db.session.execute(
            sa.select(TokenLedgerEntry.kind, TokenLedgerEntry.reference).where(
                TokenLedgerEntry.reference.in_(references)
            )
        )
    }
    # Per user, in the order given (the last expiry given wins).
    pending = sorted(
        (r for r in todo.values() if (r.kind, r.reference) not in done), key=lambda r: r.user_id
    )
    if not pending:
        return 0
    with_rows = set(
        db.session.scalars(
            sa.select(TokenLedgerEntry.user_id)
            .where(TokenLedgerEntry.user_id.in_(ids))
            .group_by(TokenLedgerEntry.user_id)
        )
    )
    balances = {user_id: row.tokens for user_id, row in locked.items()}
    expiry = {user_id: row.tokens_expires_at for user_id, row in locked.items()}
    ledger: list[dict[str, object]] = []
    for user_id in sorted({r.user_id for r in pending}):
        if user_id not in with_rows and balances[user_id] != 0:
            ledger.append(
                _ledger_row(
                    user_id,
                    balances[user_id],
                    balances[user_id],
                    LedgerKind.OPENING_BALANCE,
                    OPENING_REASON,
                    None,
                    None,
                    actor,
                )
            )
    for request in pending:
        before = balances[request.user_id]
        after = before + request.delta
        if after < 0:
            email = locked[request.user_id].email
            raise InsufficientTokens(
                ERR_INSUFFICIENT.format(amount=-request.delta, email=email, balance=before)
            )
        balances[request.user_id] = after
        changes: dict[str, object] = {"tokens": {"before": before, "after": after}}
        if request.expires_at is not None:
            changes["tokensExpiresAt"] = {
                "before": expiry[request.user_id].isoformat() if expiry[request.user_id] else None,
                "after": request.expires_at.isoformat(),
            }
            expiry[request.user_id] = request.expires_at
        ledger.append(
            _ledger_row(
                request.user_id,
                request.delta,
                after,
                request.kind,
                request.reason,
                request.reference,
                request.expires_at,
                actor,
            )
        )
        details = {"delta": request.delta, "reference": request.reference}
        audit_record(
            actor=actor,
            action=f"tokens.{request.kind.value.lower()}",
            target_model="User",
            target_id=request.user_id,
            changes=changes,
            reason=request.reason,
            details=details if request.reference else {"delta": request.delta},
        )
    deltas: dict[str, int] = {}
    for request in pending:
        deltas[request.user_id] = deltas.get(request.user_id, 0) + request.delta
    table = User.__table__
    db.session.execute(
        table.update()
        .where(table.c.id == sa.bindparam("uid"), table.c.tokens + sa.bindparam("delta") >= 0)
        .values(
            tokens=table.c.tokens + sa.bindparam("delta"),
            tokensExpiresAt=sa.bindparam("expires"),
            updatedAt=utcnow(),
        ),
        [{"uid": u, "delta": d, "expires": expiry[u]} for u, d in sorted(deltas.items())],
    )
    db.session.execute(sa.insert(TokenLedgerEntry.__table__), ledger)
    db.session.flush()
    return len(pending)


def _ledger_row(
    user_id: str,
    delta: int,
    after: int,
    kind: LedgerKind,
    reason: str | None,
    reference: str | None,
    expires_at: datetime | None,
    actor: Actor,
) -> dict[str, object]:
    return {
        "user_id": user_id,
        "delta": delta,
        "balance_after": after,
        "kind": kind.value,
        "reason": reason,
        "reference": reference,
        "expires_at": expires_at,
        "actor_label": actor.label,
        "actor_staff_id": actor.staff_id,
        "created_at": utcnow(),
    }


def _validate(amount: int, reason: str | None) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BackofficeError(ERR_AMOUNT)
    if amount > MAX_AMOUNT:
        raise BackofficeError(ERR_TOO_LARGE.format(limit=MAX_AMOUNT))
    reason = (reason or "").strip()
    if not reason:
        raise BackofficeError(ERR_REASON)
    return reason


def tokens_grant(
    *,
    user_id: str,
    amount: int,
    reason: str,
    actor: Actor,
    kind: LedgerKind = LedgerKind.GRANT,
    reference: str | None = None,
    expires_at: datetime | None | object = _UNSET,
    commit: bool = True,
) -> TokenChange:
    """Add ``amount`` (> 0) tokens to a user's balance, with a required reason.

    Raises BackofficeError for a bad amount or missing reason, NotFound for an unknown user.
    """
    reason = _validate(amount, reason)
    try:
        change = tokens_apply(
            user_id=user_id,
            delta=amount,
            kind=kind,
            reason=reason,
            actor=actor,
            reference=reference,
            expires_at=expires_at,
        )
        if commit:
            db.session.commit()
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return change


def tokens_deduct(
    *,
    user_id: str,
    amount: int,
    reason: str,
    actor: Actor,
    kind: LedgerKind = LedgerKind.DEDUCT,
    reference: str | None = None,
    commit: bool = True,
) -> TokenChange:
    """Take ``amount`` (> 0) tokens from a user's balance, with a required reason.

    Raises InsufficientTokens (nothing written) when the balance is smaller than ``amount``.
    """
    reason = _validate(amount, reason)
    try:
        change = tokens_apply(
            user_id=user_id,
            delta=-amount,
            kind=kind,
            reason=reason,
            actor=actor,
            reference=reference,
        )
        if commit:
            db.session.commit()
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return change


@dataclass(frozen=True)
class LedgerMismatch:
    user_id: str
    email: str
    balance: int
    ledger_total: int
    last_balance_after: int | None


def tokens_check(limit: int | None = None) -> list[LedgerMismatch]:
    """Every user whose balance differs from their ledger (sum of deltas, and the balance
    the last row recorded). A user with no ledger rows must have a zero balance."""
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


def tokens_reconcile(*, actor: Actor, commit: bool = True) -> int:
    """Book an OPENING_BALANCE row for every user with a balance and no ledger rows;
    return how many were booked. Set-based, so it is fast on an adopted database."""
    has_rows = sa.exists().where(TokenLedgerEntry.user_id == User.id)
    source = sa.select(
        User.id,
        User.tokens,
        User.tokens,
        sa.literal(LedgerKind.OPENING_BALANCE.value),
        sa.literal("Balance before Backoffice's ledger"),
        sa.literal(actor.label),
        sa.literal(actor.staff_id, sa.Text),
        sa.literal(utcnow(), TokenLedgerEntry.created_at.type),
    ).where(User.tokens != 0, ~has_rows)
    result = db.session.execute(
        sa.insert(TokenLedgerEntry).from_select(
            [
                "user_id",
                "delta",
                "balance_after",
                "kind",
                "reason",
                "actor_label",
                "actor_staff_id",
                "created_at",
            ],
            source,
        )
    )
    booked = result.rowcount or 0
    if booked:
        audit_record(actor=actor, action="tokens.reconcile", details={"opening_balances": booked})
    if commit:
        db.session.commit()
    return booked
