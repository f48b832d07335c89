"""Token balances and their ledger.

Rules:
- Every change to ``User.tokens`` is one ``bo_token_ledger`` row written in the same
  transaction, holding the delta and the balance after it; the two never disagree.
- The new balance is checked under a row lock on the user (``user_lock``), then written by
  one guarded statement (``tokens = tokens + :delta``, a decrease only where the result stays
  at or above zero), so concurrent grants and deductions on one user serialise and no
  deduction can drive a balance below zero, nor a grant above MAX_BALANCE.
- The seed application may take a balance below zero itself (``tokens: {decrement: n}``).
  That balance is data: it is booked as it is (an OPENING_BALANCE or CORRECTION row may be
  negative), a deduction from it is refused with the balance in the message, and a grant is
  added to it: a grant of N to a user at -5 books the correction to -5, then the grant, and
  leaves -5 + N (so a small grant may leave the balance still below zero).
- A change that carries a ``reference`` (an invoice id, a job id) is applied at most once
  per (kind, reference): retrying it returns the first entry and changes nothing.
- Before a change, the ledger must explain the balance. A balance that predates Backoffice
  (an adopted database) is booked as an OPENING_BALANCE row the first time the user is
  touched; a balance someone changed without the ledger (the seed app writing
  ``User.tokens`` itself) is booked as a CORRECTION row. ``tokens_reconcile`` (in
  ``dashboard.services.tokens.reconcile``) does both for every user at once.
- Staff actors need the ``adjust_tokens`` tool for manual grants and deductions; the system
  (CLI, Stripe sync, generation charges) may do anything.

One change and many (the Stripe resync's grants) go through the same ``_apply``, in a constant
number of statements, so each rule above is written once. Set-based changes ("every user
matching this filter") and expiry are in ``dashboard.services.tokens.bulk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, Conflict
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import LedgerKind, TokenLedgerEntry, User, utcnow
from dashboard.permissions import Tool, require_tool
from dashboard.services.audit import audit_record
from dashboard.services.tokens.reconcile import explanation_row, recorded_balances
from dashboard.services.users import ERR_USER as ERR_USER  # doors format it for a bad id
from dashboard.services.users import users_lock

ERR_AMOUNT = "The amount must be a whole number greater than zero."
ERR_REASON = "A reason is required."
ERR_INSUFFICIENT = "Cannot deduct {amount} tokens: the balance of {email} is {balance}."
ERR_TOO_LARGE = "The amount is too large (at most {limit:,} tokens at once)."
ERR_BALANCE_LIMIT = "Cannot grant {amount} tokens: {email} would exceed {limit:,} tokens."
ERR_EXPIRY_PAST = "The new expiry date must be in the future."
ERR_KIND = "{kind} cannot be used to {direction} tokens."
ERR_REFERENCE_USED = "Reference {reference!r} was already used for {kind} of another user."
MAX_AMOUNT = 1_000_000
MAX_BALANCE = 2_147_483_647  # User.tokens is a 32-bit INTEGER

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


@dataclass(frozen=True)
class LedgerRequest:
    """One change for ``tokens_apply_many_in_transaction``."""

    user_id: str
    delta: int
    kind: LedgerKind
    reason: str | None
    reference: str | None = None
    expires_at: datetime | None = None  # also sets User.tokensExpiresAt when given


@dataclass(frozen=True)
class _Change:
    user_id: str
    delta: int
    kind: LedgerKind
    reason: str | None
    reference: str | None
    expires_at: datetime | None | object  # _UNSET leaves User.tokensExpiresAt alone


def _booked(changes: list[_Change]) -> dict[tuple[LedgerKind, str], TokenLedgerEntry]:
    """The ledger rows that already carry one of the changes' (kind, reference)."""
    wanted = {(c.kind, c.reference) for c in changes if c.reference}
    if not wanted:
        return {}
    rows = db.session.scalars(
        sa.select(TokenLedgerEntry).where(
            TokenLedgerEntry.kind.in_({kind for kind, _ in wanted}),
            TokenLedgerEntry.reference.in_({reference for _, reference in wanted}),
        )
    )
    return {(r.kind, r.reference): r for r in rows if (r.kind, r.reference) in wanted}


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _apply(
    changes: list[_Change], actor: Actor
) -> tuple[dict[tuple[LedgerKind, str], TokenLedgerEntry], list[TokenChange]]:
    """Every rule of a balance change, for one change or many, in a constant number of
    statements: (rows booked before with a change's (kind, reference), changes applied).

    Twins in ``changes`` (same kind and reference) count once. Changes already booked are
    left out, first without a lock (a retry waits for nobody), then again under the user
    locks (a concurrent twin may have committed meanwhile). Users are locked in id order;
    each user's changes apply in the order given (the last expiry given wins), after what
    the ledger does not explain of their balance is booked. Raises InsufficientTokens or
    BackofficeError (MAX_BALANCE) for the first change out of range, before any write.
    """
    todo: dict[tuple[LedgerKind, str], _Change] = {}
    for number, change in enumerate(changes):
        todo.setdefault((change.kind, change.reference or f"#{number}"), change)
    booked = _booked(list(todo.values()))
    pending = [c for c in todo.values() if (c.kind, c.reference) not in booked]
    if not pending:
        return booked, []
    users = users_lock(c.user_id for c in pending)
    booked |= _booked(pending)
    pending = sorted(
        (c for c in pending if (c.kind, c.reference) not in booked), key=lambda c: c.user_id
    )
    if not pending:
        return booked, []
    touched = sorted({c.user_id for c in pending})
    recorded = recorded_balances(touched)
    balances = {user_id: users[user_id].tokens for user_id in touched}
    expiry = {user_id: users[user_id].tokens_expires_at for user_id in touched}
    explained = {
        user_id: row
        for user_id in touched
        if (row := explanation_row(user_id, balances[user_id], recorded.get(user_id), actor))
    }
    entries = list(explained.values())
    applied: list[TokenChange] = []
    for change in pending:
        before = balances[change.user_id]
        after = before + change.delta
        email = users[change.user_id].email
        if change.delta < 0 and after < 0:
            raise InsufficientTokens(
                ERR_INSUFFICIENT.format(amount=-change.delta, email=email, balance=before)
            )
        if after > MAX_BALANCE:
            raise BackofficeError(
                ERR_BALANCE_LIMIT.format(amount=change.delta, email=email, limit=MAX_BALANCE)
            )
        balances[change.user_id] = after
        audited: dict[str, object] = {"tokens": {"before": before, "after": after}}
        if change.expires_at is not _UNSET:
            if change.expires_at != expiry[change.user_id]:
                audited["tokensExpiresAt"] = {
                    "before": _iso(expiry[change.user_id]),
                    "after": _iso(change.expires_at),
                }
            expiry[change.user_id] = change.expires_at  # type: ignore[assignment]
        entry = TokenLedgerEntry(
            user_id=change.user_id,
            delta=change.delta,
            balance_after=after,
            kind=change.kind,
            reason=change.reason,
            reference=change.reference,
            actor_label=actor.label,
            actor_staff_id=actor.staff_id,
            expires_at=None if change.expires_at is _UNSET else change.expires_at,
            created_at=utcnow(),
        )
        entries.append(entry)
        details: dict[str, object] = {"delta": change.delta}
        if change.reference:
            details["reference"] = change.reference
        explanation = explained.pop(change.user_id, None)  # told with the user's first change
        if explanation is not None:
            details[explanation.kind.value.lower()] = explanation.delta
        audit_record(
            actor=actor,
            action=f"tokens.{change.kind.value.lower()}",
            target_model="User",
            target_id=change.user_id,
            changes=audited,
            reason=change.reason,
            details=details,
        )
        applied.append(TokenChange(entry, before, after, applied=True))
    _write(pending, users, expiry, entries)
    return booked, applied


def _write(
    pending: list[_Change],
    users: dict[str, User],
    expiry: dict[str, datetime | None],
    entries: list[TokenLedgerEntry],
) -> None:
    """One UPDATE of the balances (checked above, guarded again here) and the ledger rows."""
    deltas: dict[str, int] = {}
    for change in pending:
        deltas[change.user_id] = deltas.get(change.user_id, 0) + change.delta
    table = User.__table__
    db.session.execute(
        table.update()
        .where(
            table.c.id == sa.bindparam("uid"),
            # A decrease never ends below zero; an increase may (from a negative balance).
            sa.or_(sa.bindparam("delta") >= 0, table.c.tokens + sa.bindparam("delta") >= 0),
        )
        .values(
            tokens=table.c.tokens + sa.bindparam("delta"),
            tokensExpiresAt=sa.bindparam("expires"),
            updatedAt=utcnow(),
        ),
        [{"uid": u, "delta": d, "expires": expiry[u]} for u, d in sorted(deltas.items())],
    )
    for user_id in deltas:
        db.session.expire(users[user_id])
    db.session.add_all(entries)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # The unique (kind, reference) key: a twin for another user won the race. Only a
        # lone change can say which reference lost.
        if len(pending) != 1 or not pending[0].reference:
            raise
        lost = pending[0]
        raise Conflict(
            ERR_REFERENCE_USED.format(reference=lost.reference, kind=lost.kind.value)
        ) from None


def tokens_apply_in_transaction(
    *,
    user_id: str,
    delta: int,
    kind: LedgerKind,
    reason: str | None,
    actor: Actor,
    reference: str | None = None,
    expires_at: datetime | None | object = _UNSET,
) -> TokenChange:
    """Change a user's balance by ``delta`` and book it, in the caller's transaction: the
    rules of ``tokens_apply_many_in_transaction`` for one change.

    ``expires_at`` (when given, even as None) also sets ``User.tokensExpiresAt``. Raises
    InsufficientTokens when the result would be negative, BackofficeError when it would
    exceed MAX_BALANCE, Conflict when ``reference`` was used for another user, NotFound for
    an unknown user. Neither commits nor rolls back: the caller's unit of work does.
    """
    change = _Change(user_id, delta, kind, reason, reference, expires_at)
    booked, applied = _apply([change], actor)
    if applied:
        return applied[0]
    entry = booked[(kind, reference)]  # type: ignore[index]
    if entry.user_id != user_id:
        raise Conflict(ERR_REFERENCE_USED.format(reference=reference, kind=kind.value))
    return TokenChange(entry, entry.balance_after - entry.delta, entry.balance_after, False)


def tokens_apply_many_in_transaction(*, requests: list[LedgerRequest], actor: Actor) -> int:
    """Many balance changes in a constant number of statements (the Stripe resync's token
    grants), in the caller's transaction: at most once per (kind, reference), whichever user
    it was booked for; an opening balance or correction booked first; one ledger row and one
    audit row per change; no balance below zero, else InsufficientTokens and nothing is
    written. Returns how many changes were applied."""
    changes = [
        _Change(r.user_id, r.delta, r.kind, r.reason, r.reference, r.expires_at or _UNSET)
        for r in requests
    ]
    return len(_apply(changes, actor)[1])


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


def tokens_grant(
    *,
    user_id: str,
    amount: int,
    reason: str,
    actor: Actor,
    kind: LedgerKind = LedgerKind.GRANT,
    reference: str | None = None,
    expires_at: datetime | None | object = _UNSET,
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
    with unit_of_work():
        return tokens_apply_in_transaction(
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
    with unit_of_work():
        return tokens_apply_in_transaction(
            user_id=user_id,
            delta=-amount,
            kind=kind,
            reason=reason,
            actor=actor,
            reference=reference,
        )
