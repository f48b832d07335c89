"""Refunding a payment through Stripe, and mirroring the refunds Stripe made.

``payment_refund`` asks Stripe (``POST /v1/refunds``, with the caller's idempotency key, one
per rendered form, so a double submit or a retry refunds once), then in one transaction
re-reads the payment from Stripe and writes it (PaymentHistory status, bo_payment_refund
rows) with the same code the ``charge.refunded`` / ``refund.*`` webhooks use
(``stripe_payment_sync_in_transaction``), so whichever comes first the rows are the same.
The refund row is claimed by the request once (``requested_by``): the audit row and the
optional token take-back (a DEDUCT keyed by the payment, never below zero) are written once.
Nothing is written locally when Stripe refuses or does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound, PermissionDenied
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import LedgerKind, PaymentHistory, PaymentRefund, TokenLedgerEntry, User
from dashboard.permissions import REFUND_LIMITED_ROLES, Tool, require_tool
from dashboard.services.audit import audit_record
from dashboard.services.stripe.gateway import Gateway, StripeSettings, stripe_gateway
from dashboard.services.stripe.mapping import (
    PAID,
    PARTIALLY_REFUNDED,
    REFUND_COUNTED,
    MappingError,
    refund_row,
)
from dashboard.services.stripe.store import TableSpec, TypeReport, upsert_rows
from dashboard.services.stripe.sync import stripe_payment_intent_upsert
from dashboard.services.tokens.ledger import tokens_apply_in_transaction

ERR_PAYMENT = "No payment with id {payment_id}."
ERR_REASON = "A reason is required."
ERR_AMOUNT = "Enter an amount greater than zero."
ERR_NOT_REFUNDABLE = "Only a succeeded payment can be refunded (this one is {status})."
ERR_NOTHING_LEFT = "Nothing is left to refund on this payment."
ERR_TOO_MUCH = "At most {left} can be refunded on this payment."
ERR_LIMIT = "Refunds above {limit} must be made by an ADMIN."
ERR_KEY = "The form is missing its one-time key; reload the page and try again."
MSG_REFUNDED = "Refunded {amount} of {total} (Stripe refund {refund}, {status}){tokens}."
MSG_ALREADY = "This refund was already made (Stripe refund {refund}); nothing changed."
REFUNDABLE = (PAID, PARTIALLY_REFUNDED)

REFUNDS = TableSpec(
    PaymentRefund,
    key="stripe_refund_id",
    compared=("stripe_payment_intent_id", "amount", "currency", "status"),
    insert_only=("created_at",),
)


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


@dataclass(frozen=True)
class RefundOptions:
    """What the refund form shows and allows for one payment."""

    payment: PaymentHistory
    refunded: int
    left: int
    invoice_id: str | None
    tokens_granted: int  # by the payment's invoice
    tokens_back: int  # what a take-back could deduct now (never below zero)
    disabled: str | None  # why refunding cannot work, or None


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    applied: bool  # False: an earlier submit of the same form made this refund
    message: str
    tokens_taken: int


def payment_refunded(intent_id: str) -> int:
    """What the payment has had refunded, by the refunds stored for it."""
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PaymentRefund.amount), 0)).where(
            PaymentRefund.stripe_payment_intent_id == intent_id,
            PaymentRefund.status.in_(REFUND_COUNTED),
        )
    )
    return int(total or 0)


def _payment(payment_id: str) -> PaymentHistory:
    payment = db.session.get(PaymentHistory, payment_id)
    if payment is None:
        raise NotFound(ERR_PAYMENT.format(payment_id=payment_id[:100]))
    return payment


def _invoice_of(gateway: Gateway, intent_id: str) -> str | None:
    """The invoice a payment intent paid (``invoice_payments``), if any."""
    params = {"payment": {"type": "payment_intent", "payment_intent": intent_id}, "limit": 1}
    for page in gateway.list_pages("invoice_payments", params):
        for item in page.objects:
            return item.get("invoice")
    return None


def _granted(user_id: str, invoice_id: str | None) -> int:
    if not invoice_id:
        return 0
    granted = db.session.scalar(
        sa.select(TokenLedgerEntry.delta).where(
            TokenLedgerEntry.user_id == user_id,
            TokenLedgerEntry.kind == LedgerKind.SUBSCRIPTION_GRANT,
            TokenLedgerEntry.reference == invoice_id,
        )
    )
    return int(granted or 0)


def payment_refund_options(*, payment_id: str, settings: StripeSettings) -> RefundOptions:
    """The refund form's figures for a payment. Looks up the payment's invoice on Stripe
    (to say how many tokens it granted) only when Stripe is configured; a Stripe failure
    there only hides the token figure."""
    payment = _payment(payment_id)
    refunded = payment_refunded(payment.stripe_payment_intent_id)
    left = max(0, payment.amount - refunded)
    disabled, invoice_id = None, None
    if not settings.configured:
        disabled = "Stripe is not configured (no STRIPE_SECRET_KEY)."
    elif payment.status not in REFUNDABLE:
        disabled = ERR_NOT_REFUNDABLE.format(status=payment.status)
    elif left <= 0:
        disabled = ERR_NOTHING_LEFT
    if settings.configured:
        try:
            invoice_id = _invoice_of(stripe_gateway(settings), payment.stripe_payment_intent_id)
        except BackofficeError:
            invoice_id = None
    granted = _granted(payment.user_id, invoice_id)
    balance = db.session.scalar(sa.select(User.tokens).where(User.id == payment.user_id)) or 0
    return RefundOptions(
        payment, refunded, left, invoice_id, granted, min(granted, balance), disabled
    )


def stripe_refunds_upsert(*, objects: list[dict], fetched_at: int) -> TypeReport:
    """Upsert Stripe refunds into bo_payment_refund (ordered by the time of the read)."""
    report = TypeReport()
    rows = []
    for obj in objects:
        try:
            rows.append(refund_row(obj))
        except MappingError as exc:
            report.fail(obj.get("id", "?"), str(exc))
    report.add(upsert_rows(REFUNDS, "refund", rows, fetched_at))
    return report


def stripe_payment_sync_in_transaction(*, gateway: Gateway, intent_id: str) -> TypeReport:
    """Re-read a payment intent and its refunds from Stripe and write them, in the caller's
    transaction: the one path of the refund request and of the refund webhooks."""
    fetched = gateway.retrieve("payment_intents", intent_id, expand=["latest_charge"])
    report = TypeReport()
    if fetched.obj is None:
        return report
    report.merge(
        stripe_payment_intent_upsert(
            obj=fetched.obj, fetched_at=fetched.fetched_at, gateway=gateway
        )
    )
    for page in gateway.list_pages("refunds", {"payment_intent": intent_id}):
        report.merge(stripe_refunds_upsert(objects=page.objects, fetched_at=page.fetched_at))
    return report


def _check_limit(actor: Actor, amount: int, limit: int, currency: str) -> None:
    if not actor.is_system and actor.role in REFUND_LIMITED_ROLES and amount > limit:
        raise PermissionDenied(ERR_LIMIT.format(limit=_money(limit, currency)))


def payment_refund(
    *,
    payment_id: str,
    amount: int | None,
    reason: str | None,
    idempotency_key: str,
    actor: Actor,
    settings: StripeSettings,
    support_limit: int,
    take_back_tokens: bool = False,
) -> RefundResult:
    """Refund ``amount`` (smallest currency unit; None: all that is left) of a payment.

    Rules: tool REFUND_PAYMENT; SUPPORT up to ``support_limit``; a reason; a succeeded or
    partly refunded payment; no more than what is left. ``take_back_tokens`` also deducts
    what the payment's invoice granted, down to zero at most. Raises NotFound,
    PermissionDenied, BackofficeError (bad input), StripeConfigError, StripeRequestFailed
    (already refunded, amount too large, no such charge) or StripeUnavailable (timeout,
    unreachable, rate-limited); nothing is written locally then.
    """
    require_tool(actor, Tool.REFUND_PAYMENT)
    reason = (reason or "").strip()
    if not reason:
        raise BackofficeError(ERR_REASON)
    if not idempotency_key:
        raise BackofficeError(ERR_KEY)
    payment = _payment(payment_id)
    intent_id, user_id, currency = (
        payment.stripe_payment_intent_id,
        payment.user_id,
        payment.currency,
    )
    left = payment.amount - payment_refunded(intent_id)
    amount = left if amount is None else amount
    if amount <= 0:
        raise BackofficeError(ERR_NOTHING_LEFT if left <= 0 else ERR_AMOUNT)
    _check_limit(actor, amount, support_limit, currency)
    if payment.status not in REFUNDABLE:
        raise BackofficeError(ERR_NOT_REFUNDABLE.format(status=payment.status))
    if amount > left:
        raise BackofficeError(ERR_TOO_MUCH.format(left=_money(max(left, 0), currency)))
    gateway = stripe_gateway(settings)
    status_before, total = payment.status, payment.amount
    answer = gateway.write(
        "post",
        "/v1/refunds",
        {"payment_intent": intent_id, "amount": amount, "metadata": {"reason": reason[:500]}},
        idempotency_key=f"bo-refund-{idempotency_key}",
    )
    refund = answer.obj or {}
    with unit_of_work():
        stripe_refunds_upsert(objects=[refund], fetched_at=answer.fetched_at)
        stripe_payment_sync_in_transaction(gateway=gateway, intent_id=intent_id)
        claimed = db.session.execute(
            sa.update(PaymentRefund)
            .where(
                PaymentRefund.stripe_refund_id == answer.object_id,
                PaymentRefund.requested_by.is_(None),
            )
            .values(requested_by=actor.label, reason=reason)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return RefundResult(
                answer.object_id, False, MSG_ALREADY.format(refund=answer.object_id), 0
            )
        taken = _take_back(gateway, user_id, intent_id, actor) if take_back_tokens else 0
        status_after = db.session.scalar(
            sa.select(PaymentHistory.status).where(PaymentHistory.id == payment_id)
        )
        audit_record(
            actor=actor,
            action="payment.refund",
            target_model="User",
            target_id=user_id,
            changes={"paymentStatus": {"before": status_before, "after": status_after}},
            details={
                "payment_id": payment_id,
                "stripe_payment_intent_id": intent_id,
                "stripe_refund_id": answer.object_id,
                "amount": amount,
                "currency": currency,
                "refund_status": refund.get("status"),
                "tokens_taken_back": taken,
            },
            reason=reason,
        )
    tokens = f"; took back {taken} tokens" if taken else ""
    message = MSG_REFUNDED.format(
        amount=_money(amount, currency),
        total=_money(total, currency),
        refund=answer.object_id,
        status=refund.get("status", "pending"),
        tokens=tokens,
    )
    return RefundResult(answer.object_id, True, message, taken)


def _take_back(gateway: Gateway, user_id: str, intent_id: str, actor: Actor) -> int:
    """Deduct what the payment's invoice granted, never below zero, once per payment."""
    granted = _granted(user_id, _invoice_of(gateway, intent_id))
    balance = db.session.scalar(sa.select(User.tokens).where(User.id == user_id)) or 0
    amount = min(granted, balance)
    if amount <= 0:
        return 0
    change = tokens_apply_in_transaction(
        user_id=user_id,
        delta=-amount,
        kind=LedgerKind.DEDUCT,
        reason=f"Refund of payment {intent_id}: tokens its invoice granted",
        actor=actor,
        reference=f"refund:{intent_id}",
    )
    return amount if change.applied else 0
