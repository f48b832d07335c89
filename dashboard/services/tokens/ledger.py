"""Token balances and their ledger.

Rules:
- Every change to ``User.tokens`` is one ``bo_token_ledger`` row written in the same
  transaction, holding the delta and the balance after it; the two never disagree.
- The balance changes by one guarded statement (``tokens = tokens + :delta`` only where the
  result stays within 0..MAX_BALANCE), under a row lock on the user, so concurrent grants
  and deductions on one user serialise and no deduction can drive a balance below zero.
- A change that carries a ``reference`` (an invoice id, a job id) is applied at most once
  per (kind, reference): retrying it returns the first entry and changes nothing.
- Before a change, the ledger must explain the balance. A balance that predates Backoffice
  (an adopted database) is booked as an OPENING_BALANCE row the first time the user is
  touched; a balance someone changed without the ledger (the seed app writing
  ``User.tokens`` itself) is booked as a CORRECTION row. ``tokens_reconcile`` does both for
  every user at once.
- Staff actors need the ``adjust_tokens`` tool for manual grants and deductions; the system
  (CLI, Stripe sync, generation charges) may do anything.

Set-based changes ("every user matching this filter") and expiry are in
``dashboard.services.tokens.bulk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict, NotFound
from dashboard.extensions import db
from dashboard.models import LedgerKind, TokenLedgerEntry, User, utcnow
from dashboard.models.base import Timestamp
from dashboard.permissions import Tool, require_tool
from dashboard.services import bulk
from dashboard.services.audit import audit_record

ERR_AMOUNT = "The amount must be a whole number greater than zero."
ERR_REASON = "A reason is required."
ERR_INSUFFICIENT = "Cannot deduct {amount} tokens: {email} has only {balance}."
ERR_USER = "No user with id {user_id}."
ERR_TOO_LARGE = "The amount is too large (at most {limit:,} tokens at once)."
ERR_BALANCE_LIMIT = "Cannot grant {amount} tokens: {email} would exceed {limit:,} tokens."
ERR_EXPIRY_PAST = "The new expiry date must be in the future."
ERR_KIND = "{kind} cannot be used to {direction} tokens."
ERR_REFERENCE_USED = "Reference {reference!r} was already used for {kind} of another user."
MAX_AMOUNT = 1_000_000
MAX_BALANCE = 2_147_483_647  # User.tokens is a 32-bit INTEGER

REASON_OPENING = "Balance before Backoffice's ledger"
REASON_CORRECTION = "Balance changed outside Backoffice's ledger"

# Kinds that add tokens and kinds that remove them; the sign of the delta follows.
CREDIT_KINDS = frozenset(
    {
        LedgerKind.GRANT,
        LedgerKind.SUBSCRIPTION_GRANT,
        LedgerKind.GENERATION_REFUND,
        LedgerKind.CORRECTION,
    }
)
DEBIT_KINDS = frozenset(
    {LedgerKind.DEDUCT, LedgerKind.GENERATION_CHARGE, LedgerKind.EXPIRY, LedgerKind.CORRECTION}
)
# Kinds a person chooses to apply: these need the adjust_tokens tool.
MANUAL_KINDS = frozenset({LedgerKind.GRANT, LedgerKind.DEDUCT, LedgerKind.CORRECTION})
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
    """Load the user, fresh from the database, holding a row lock, so that a user's balance
    changes one at a time and ``user.tokens`` is the value the change starts from."""
    user = db.session.execute(
        sa.select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(ERR_USER.format(user_id=user_id))
    return user


def _last_recorded_balance(user_id: str) -> int | None:
    """The balance the user's latest ledger row recorded, or None without rows."""
    return db.session.execute(
        sa.select(TokenLedgerEntry.balance_after)
        .where(TokenLedgerEntry.user_id == user_id)
        .order_by(TokenLedgerEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _explain_balance(user: User, actor: Actor) -> TokenLedgerEntry | None:
    """Book what the ledger does not explain of the (locked) user's balance."""
    recorded = _last_recorded_balance(user.id)
    if user.tokens == (recorded or 0):
        return None
    opening = recorded is None
    entry = TokenLedgerEntry(
        user_id=user.id,
        delta=user.tokens - (recorded or 0),
        balance_after=user.tokens,
        kind=LedgerKind.OPENING_BALANCE if opening else LedgerKind.CORRECTION,
        reason=REASON_OPENING if opening else REASON_CORRECTION,
        actor_label=actor.label,
        actor_staff_id=actor.staff_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _existing(kind: LedgerKind, reference: str | None, user_id: str) -> TokenLedgerEntry | None:
    if reference is None:
        return None
    entry = db.session.execute(
        sa.select(TokenLedgerEntry).where(
            TokenLedgerEntry.kind == kind, TokenLedgerEntry.reference == reference
        )
    ).scalar_one_or_none()
    if entry is not None and entry.user_id != user_id:
        raise Conflict(ERR_REFERENCE_USED.format(reference=reference, kind=kind.value))
    return entry


def _already_applied(entry: TokenLedgerEntry) -> TokenChange:
    return TokenChange(entry, entry.balance_after - entry.delta, entry.balance_after, False)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


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
    InsufficientTokens when the result would be negative, BackofficeError when it would
    exceed MAX_BALANCE, Conflict when ``reference`` was used for another user, NotFound for
    an unknown user. Does not commit and does not roll back: the caller owns the
    transaction (``tokens_grant`` / ``tokens_deduct`` commit, or roll back on error).
    """
    existing = _existing(kind, reference, user_id)
    if existing is not None:
        return _already_applied(existing)
    user = _lock_user(user_id)
    # Re-check under the lock: a concurrent twin may have committed meanwhile.
    existing = _existing(kind, reference, user_id)
    if existing is not None:
        return _already_applied(existing)
    explained = _explain_balance(user, actor)
    before = user.tokens
    values: dict[str, object] = {"tokens": User.tokens + delta}
    if expires_at is not _UNSET:
        values["tokens_expires_at"] = expires_at
    # The guard is written so that PostgreSQL never computes an out-of-range integer.
    guard = User.tokens >= -delta if delta < 0 else User.tokens <= MAX_BALANCE - delta
    after = db.session.execute(
        sa.update(User)
        .where(User.id == user_id, guard)
        .values(**values)
        .returning(User.tokens)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if after is None and delta < 0:
        raise InsufficientTokens(
            ERR_INSUFFICIENT.format(amount=-delta, email=user.email, balance=before)
        )
    if after is None:
        raise BackofficeError(
            ERR_BALANCE_LIMIT.format(amount=delta, email=user.email, limit=MAX_BALANCE)
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
    changes: dict[str, object] = {"tokens": {"before": before, "after": after}}
    if expires_at is not _UNSET and expires_at != user.tokens_expires_at:
        changes["tokensExpiresAt"] = {
            "before": _iso(user.tokens_expires_at),
            "after": _iso(expires_at),
        }
    if audit:
        details: dict[str, object] = {"delta": delta}
        if reference:
            details["reference"] = reference
        if explained is not None:
            details[explained.kind.value.lower()] = explained.delta
        audit_record(
            actor=actor,
            action=f"tokens.{kind.value.lower()}",
            target_model="User",
            target_id=user_id,
            changes=changes,
            reason=reason,
            details=details,
        )
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # The unique (kind, reference) key: a twin for another user won the race.
        raise Conflict(ERR_REFERENCE_USED.format(reference=reference, kind=kind.value)) from None
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
    # What the ledger does not explain of a balance is booked first, as tokens_apply does:
    # an opening balance for users without rows, a correction where the balance drifted.
    recorded = dict(
        db.session.execute(
            sa.select(TokenLedgerEntry.user_id, TokenLedgerEntry.balance_after).where(
                TokenLedgerEntry.id.in_(
                    sa.select(sa.func.max(TokenLedgerEntry.id))
                    .where(TokenLedgerEntry.user_id.in_(ids))
                    .group_by(TokenLedgerEntry.user_id)
                )
            )
        ).all()
    )
    balances = {user_id: row.tokens for user_id, row in locked.items()}
    expiry = {user_id: row.tokens_expires_at for user_id, row in locked.items()}
    ledger: list[dict[str, object]] = []
    for user_id in sorted({r.user_id for r in pending}):
        last = recorded.get(user_id)
        if balances[user_id] != (last or 0):
            opening = last is None
            ledger.append(
                _ledger_row(
                    user_id,
                    balances[user_id] - (last or 0),
                    balances[user_id],
                    LedgerKind.OPENING_BALANCE if opening else LedgerKind.CORRECTION,
                    REASON_OPENING if opening else REASON_CORRECTION,
                    None,
                    None,
                    actor,
                )
            )
    for request in pending:
        before = balances[request.user_id]
        after = before + request.delta
        email = locked[request.user_id].email
        if after < 0:
            raise InsufficientTokens(
                ERR_INSUFFICIENT.format(amount=-request.delta, email=email, balance=before)
            )
        if after > MAX_BALANCE:
            raise BackofficeError(
                ERR_BALANCE_LIMIT.format(amount=request.delta, email=email, limit=MAX_BALANCE)
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


def validate_amount(amount: int, reason: str | None) -> str:
    """The stripped reason; raises BackofficeError for a bad amount or a missing reason."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BackofficeError(ERR_AMOUNT)
    if amount > MAX_AMOUNT:
        raise BackofficeError(ERR_TOO_LARGE.format(limit=MAX_AMOUNT))
    reason = (reason or "").strip()
    if not reason:
        raise BackofficeError(ERR_REASON)
    return reason


def validate_expiry(
    expires_at: datetime | None | object, *, future: bool = True
) -> datetime | None | object:
    """A new expiry as naive UTC; raises BackofficeError when ``future`` and it is not in
    the future (the system may book a past expiry, e.g. when replaying a Stripe event)."""
    if not isinstance(expires_at, datetime):
        return expires_at
    if expires_at.tzinfo is not None:
        expires_at = expires_at.astimezone(UTC).replace(tzinfo=None)
    if future and expires_at <= utcnow():
        raise BackofficeError(ERR_EXPIRY_PAST)
    return expires_at


def _check_kind(kind: LedgerKind | str, allowed: frozenset[LedgerKind], direction: str) -> None:
    if kind not in allowed:
        raise BackofficeError(ERR_KIND.format(kind=kind, direction=direction))


def _apply_and_commit(commit: bool, **arguments: object) -> TokenChange:
    try:
        change = tokens_apply(**arguments)  # type: ignore[arg-type]
        if commit:
            db.session.commit()
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return change


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
    """Add ``amount`` (1..MAX_AMOUNT) tokens to a user's balance, with a required reason;
    ``expires_at`` (optional; in the future for manual grants) becomes the new
    ``tokensExpiresAt``.

    Raises BackofficeError for a bad amount, kind, expiry or missing reason,
    PermissionDenied for a staff role without ``adjust_tokens``, NotFound for an unknown
    user, Conflict for a reference used on another user. Nothing is written on error.
    """
    reason = validate_amount(amount, reason)
    _check_kind(kind, CREDIT_KINDS, "grant")
    kind = LedgerKind(kind)
    expires_at = validate_expiry(expires_at, future=kind in MANUAL_KINDS)
    if kind in MANUAL_KINDS:
        require_tool(actor, Tool.ADJUST_TOKENS)
    return _apply_and_commit(
        commit,
        user_id=user_id,
        delta=amount,
        kind=kind,
        reason=reason,
        actor=actor,
        reference=reference,
        expires_at=expires_at,
    )


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
    """Take ``amount`` (1..MAX_AMOUNT) tokens from a user's balance, with a required reason.

    Raises InsufficientTokens when the balance is smaller than ``amount``, and the errors
    of ``tokens_grant``. Nothing is written on error.
    """
    reason = validate_amount(amount, reason)
    _check_kind(kind, DEBIT_KINDS, "deduct")
    kind = LedgerKind(kind)
    if kind in MANUAL_KINDS:
        require_tool(actor, Tool.ADJUST_TOKENS)
    return _apply_and_commit(
        commit,
        user_id=user_id,
        delta=-amount,
        kind=kind,
        reason=reason,
        actor=actor,
        reference=reference,
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


def explain_targets(*, actor: Actor, now: datetime) -> tuple[int, int]:
    """For every user in the (locked) bulk target set, book what the ledger does not
    explain of their balance: (opening balances, corrections) booked. One pass over the
    targets; only the rows booked come back."""
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


def tokens_reconcile(*, actor: Actor, commit: bool = True) -> tuple[int, int]:
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
    try:
        with bulk.target_set():
            bulk.fill_targets(drifted)
            openings, corrections = explain_targets(actor=actor, now=utcnow())
        if openings or corrections:
            audit_record(
                actor=actor,
                action="tokens.reconcile",
                details={"opening_balances": openings, "corrections": corrections},
            )
        if commit:
            db.session.commit()
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return openings, corrections
