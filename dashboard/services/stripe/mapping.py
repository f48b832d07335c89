"""Stripe objects (plain dicts, current API shape) to rows of the shared tables.

Pure functions: no database, no network. Each raises MappingError, with a message staff can
read, for an object it cannot map; the sync counts that object as failed and goes on.

Shape notes (stripe-python 16 pins API 2026-10-28): the billing period is on
``items.data[0]`` (top-level ``current_period_*`` before 2025-03-31); an invoice's payments
are the includable ``invoice.payments`` list (``invoice.payment_intent`` before); an
invoice line names its price under ``pricing.price_details`` (``price`` before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# PaymentHistory.status values the seed application uses, plus the in-between ones.
PAID, FAILED, REFUNDED, CANCELED, PENDING = "succeeded", "failed", "refunded", "canceled", "pending"
PARTIALLY_REFUNDED = "partially_refunded"
# Refund statuses that count towards what a payment has had refunded.
REFUND_COUNTED = ("succeeded", "pending", "requires_action")


class MappingError(ValueError):
    """A Stripe object lacks what its row needs."""


def ts(value: int | None) -> datetime | None:
    """Stripe's Unix seconds as the naive UTC datetime the shared tables hold."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def ref_id(value: Any) -> str | None:
    """The id of a reference that may be expanded (a dict) or not (a string)."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _tokens(metadata: dict[str, Any] | None) -> int | None:
    raw = (metadata or {}).get("tokens")
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def product_row(obj: dict[str, Any]) -> dict[str, Any]:
    if not obj.get("id") or obj.get("name") is None:
        raise MappingError(f"product {obj.get('id')} has no name")
    return {
        "id": obj["id"],
        "name": obj["name"],
        "description": obj.get("description"),
        "active": bool(obj.get("active", True)),
        "tokens": _tokens(obj.get("metadata")),
        "metadata_": obj.get("metadata") or {},
    }


def price_row(obj: dict[str, Any]) -> dict[str, Any]:
    product = ref_id(obj.get("product"))
    if not product or not obj.get("currency"):
        raise MappingError(f"price {obj.get('id')} has no product or currency")
    recurring = obj.get("recurring") or {}
    return {
        "id": obj["id"],
        "product_id": product,
        "unit_amount": obj.get("unit_amount"),
        "currency": obj["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "type": obj.get("type") or ("recurring" if recurring else "one_time"),
        "active": bool(obj.get("active", True)),
    }


@dataclass(frozen=True)
class CustomerIdentity:
    stripe_customer_id: str
    user_id_hint: str | None  # metadata.userId
    email: str | None
    name: str | None


def customer_identity(obj: dict[str, Any]) -> CustomerIdentity:
    metadata = obj.get("metadata") or {}
    hint = metadata.get("userId") or metadata.get("user_id")
    email = (obj.get("email") or "").strip() or None
    return CustomerIdentity(obj["id"], hint or None, email, obj.get("name"))


def subscription_period(obj: dict[str, Any]) -> tuple[datetime, datetime]:
    """The current period from the first item, else the legacy top-level fields."""
    items = (obj.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    start = first.get("current_period_start") or obj.get("current_period_start")
    end = first.get("current_period_end") or obj.get("current_period_end")
    if start is None or end is None:
        raise MappingError(f"subscription {obj.get('id')} has no current period")
    return ts(start), ts(end)  # type: ignore[return-value]


def plan_as_price(plan: dict[str, Any]) -> dict[str, Any]:
    """A legacy ``plan`` (API versions before prices) as the recurring price it is: a plan
    is always recurring, its amount is ``amount`` and its interval is top-level."""
    if plan.get("object") == "price" or "recurring" in plan:
        return plan
    return {
        "id": plan.get("id"),
        "object": "price",
        "product": plan.get("product"),
        "unit_amount": plan.get("amount"),
        "currency": plan.get("currency"),
        "recurring": {
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count") or 1,
        },
        "type": "recurring",
        "active": plan.get("active", True),
    }


def subscription_price(obj: dict[str, Any]) -> dict[str, Any]:
    """The first item's price; items embed the full price object. Items of older API
    versions carry a ``plan`` instead (or only the subscription does): mirrored as the
    recurring price it is."""
    items = (obj.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    price = first.get("price")
    if not isinstance(price, dict):
        plan = first.get("plan") or obj.get("plan")
        price = plan_as_price(plan) if isinstance(plan, dict) else price
    if not isinstance(price, dict) or not price.get("id"):
        raise MappingError(f"subscription {obj.get('id')} has no price")
    return price


def subscription_row(obj: dict[str, Any]) -> dict[str, Any]:
    """Row for UserSubscription without ``user_id`` (the customer decides that)."""
    price = subscription_price(obj)
    start, end = subscription_period(obj)
    if not obj.get("customer") or not obj.get("status"):
        raise MappingError(f"subscription {obj.get('id')} has no customer or status")
    return {
        "stripe_subscription_id": obj["id"],
        "customer": ref_id(obj["customer"]),
        "stripe_product_id": ref_id(price.get("product")),
        "stripe_price_id": price["id"],
        "status": obj["status"],
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
    }


def _invoice_payment_status(payment: dict[str, Any], invoice: dict[str, Any]) -> str:
    status = payment.get("status")
    if status == "paid":
        return PAID
    if status == "canceled":
        return CANCELED
    return FAILED if invoice.get("attempted") else PENDING


def _legacy_invoice_status(invoice: dict[str, Any]) -> str:
    status = invoice.get("status")
    if status == "paid":
        return PAID
    if status == "void":
        return CANCELED
    return FAILED if invoice.get("attempted") or status == "uncollectible" else PENDING


def invoice_payments(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    """PaymentHistory rows (without ``user_id``) for an invoice: one per payment intent in
    ``invoice.payments``, else the legacy ``payment_intent``."""
    rows = []
    payments = (invoice.get("payments") or {}).get("data") or []
    for payment in payments:
        target = payment.get("payment") or {}
        intent = ref_id(target.get("payment_intent")) or ref_id(target.get("charge"))
        if not intent:
            continue  # paid out of band: no payment to record
        amount = payment.get("amount_paid") or payment.get("amount_requested") or 0
        rows.append(
            {
                "stripe_payment_intent_id": intent,
                "amount": int(amount),
                "currency": payment.get("currency") or invoice.get("currency"),
                "status": _invoice_payment_status(payment, invoice),
                "created_at": ts(payment.get("created") or invoice.get("created")),
            }
        )
    legacy = ref_id(invoice.get("payment_intent"))
    if not payments and legacy:
        rows.append(
            {
                "stripe_payment_intent_id": legacy,
                "amount": int(invoice.get("amount_paid") or invoice.get("amount_due") or 0),
                "currency": invoice.get("currency"),
                "status": _legacy_invoice_status(invoice),
                "created_at": ts(invoice.get("created")),
            }
        )
    return rows


def payment_intent_row(intent: dict[str, Any]) -> dict[str, Any]:
    """PaymentHistory row (without ``user_id``) for a payment intent; a fully refunded
    charge makes it "refunded", a partly refunded one "partially_refunded"."""
    status = intent.get("status")
    charge = intent.get("latest_charge")
    if status == "succeeded":
        status = PAID
        if isinstance(charge, dict) and charge.get("refunded"):
            status = REFUNDED
        elif isinstance(charge, dict) and charge.get("amount_refunded"):
            status = PARTIALLY_REFUNDED
    elif status == "requires_payment_method":
        status = (
            FAILED if intent.get("last_payment_error") or intent.get("latest_charge") else PENDING
        )
    elif status == "canceled":
        status = CANCELED
    return {
        "stripe_payment_intent_id": intent["id"],
        "amount": int(intent.get("amount_received") or intent.get("amount") or 0),
        "currency": intent.get("currency"),
        "status": status,
        "created_at": ts(intent.get("created")),
    }


@dataclass(frozen=True)
class InvoiceGrant:
    """What a paid subscription invoice entitles its customer to."""

    invoice_id: str
    customer: str
    product_id: str | None
    subscription_id: str | None
    period_end: datetime | None
    paid: bool


def invoice_grant(invoice: dict[str, Any]) -> InvoiceGrant:
    lines = (invoice.get("lines") or {}).get("data") or []
    first = lines[0] if lines else {}
    details = (first.get("pricing") or {}).get("price_details") or {}
    product = ref_id(details.get("product"))
    if product is None and isinstance(first.get("price"), dict):
        product = ref_id(first["price"].get("product"))  # legacy line shape
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = ref_id(parent.get("subscription")) or ref_id(invoice.get("subscription"))
    period_end = ts((first.get("period") or {}).get("end"))
    return InvoiceGrant(
        invoice_id=invoice["id"],
        customer=ref_id(invoice.get("customer")) or "",
        product_id=product,
        subscription_id=subscription,
        period_end=period_end,
        paid=invoice.get("status") == "paid",
    )


def refund_row(refund: dict[str, Any]) -> dict[str, Any]:
    """bo_payment_refund row for a Stripe refund."""
    intent = ref_id(refund.get("payment_intent"))
    if not refund.get("id") or not intent:
        raise MappingError(f"refund {refund.get('id')} has no payment intent")
    return {
        "stripe_refund_id": refund["id"],
        "stripe_payment_intent_id": intent,
        "amount": int(refund.get("amount") or 0),
        "currency": refund.get("currency") or "",
        "status": refund.get("status") or PENDING,
        "created_at": ts(refund.get("created")),
    }
