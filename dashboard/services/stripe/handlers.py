"""What each Stripe event type does: ``EVENT_HANDLERS`` maps a type to a handler.

A handler never trusts the payload beyond the object's id: it re-fetches the object from
Stripe (payloads are snapshots at the endpoint's API version and may arrive late, twice or
out of order) and hands the current state to the same upserts the resync uses. An object
Stripe no longer has (``resource_missing``) is handled, not an error: a product or price
becomes inactive. A handler runs in the caller's transaction, returns a one-line outcome and
raises BackofficeError when the event could not be applied (the delivery then fails and
Stripe retries it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.models import StripePrice, StripeProduct
from dashboard.services.stripe.gateway import Gateway
from dashboard.services.stripe.mapping import ref_id
from dashboard.services.stripe.refunds import stripe_payment_sync_in_transaction
from dashboard.services.stripe.store import TypeReport
from dashboard.services.stripe.sync import (
    stripe_customers_upsert,
    stripe_invoices_upsert,
    stripe_objects_gone,
    stripe_payment_intent_upsert,
    stripe_prices_upsert,
    stripe_products_upsert,
    stripe_subscriptions_upsert,
)

Handler = Callable[[Gateway, dict[str, Any], Actor], str]
ERR_NO_OBJECT = "The event has no data.object.id."


def _object_id(event: dict[str, Any], field: str = "id") -> str:
    obj = (event.get("data") or {}).get("object") or {}
    object_id = ref_id(obj.get(field))
    if not object_id:
        raise BackofficeError(ERR_NO_OBJECT)
    return object_id


def _outcome(kind: str, object_id: str, report: TypeReport) -> str:
    if report.failed:
        raise BackofficeError(f"{kind} {object_id}: {report.failures[0]['reason']}")
    if report.skipped:
        return f"{kind} {object_id} skipped: {report.skips[0]['reason']}"
    for word in ("created", "updated"):
        if getattr(report, word):
            extra = f", {report.granted} token grant(s)" if report.granted else ""
            return f"{kind} {object_id} {word}{extra}"
    extra = f", {report.granted} token grant(s)" if report.granted else ""
    return f"{kind} {object_id} unchanged{extra}"


def on_product(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    fetched = gateway.retrieve("products", _object_id(event))
    if fetched.obj is None:
        changed = stripe_objects_gone(
            model=StripeProduct, object_ids=[fetched.object_id], fetched_at=fetched.fetched_at
        )
        return f"product {fetched.object_id} gone on Stripe; {changed} deactivated"
    report = stripe_products_upsert(objects=[fetched.obj], fetched_at=fetched.fetched_at)
    return _outcome("product", fetched.object_id, report)


def on_price(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    fetched = gateway.retrieve("prices", _object_id(event))
    if fetched.obj is None:
        changed = stripe_objects_gone(
            model=StripePrice, object_ids=[fetched.object_id], fetched_at=fetched.fetched_at
        )
        return f"price {fetched.object_id} gone on Stripe; {changed} deactivated"
    report = stripe_prices_upsert(
        objects=[fetched.obj], fetched_at=fetched.fetched_at, gateway=gateway
    )
    return _outcome("price", fetched.object_id, report)


def on_customer(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    fetched = gateway.retrieve("customers", _object_id(event))
    if fetched.obj is None:
        # The link is kept: the customer's subscriptions and payments still name the user.
        return f"customer {fetched.object_id} deleted on Stripe; link kept"
    report = stripe_customers_upsert(objects=[fetched.obj], fetched_at=fetched.fetched_at)
    return _outcome("customer", fetched.object_id, report)


def on_subscription(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    fetched = gateway.retrieve("subscriptions", _object_id(event))
    if fetched.obj is None:
        return f"subscription {fetched.object_id} gone on Stripe; nothing to do"
    report = stripe_subscriptions_upsert(
        objects=[fetched.obj], fetched_at=fetched.fetched_at, gateway=gateway, actor=actor
    )
    return _outcome("subscription", fetched.object_id, report)


def _invoice(gateway: Gateway, invoice_id: str, actor: Actor) -> str:
    fetched = gateway.retrieve("invoices", invoice_id, expand=["payments"])
    if fetched.obj is None:
        return f"invoice {invoice_id} gone on Stripe; nothing to do"
    report = stripe_invoices_upsert(
        objects=[fetched.obj], fetched_at=fetched.fetched_at, gateway=gateway, actor=actor
    )
    return _outcome("invoice", invoice_id, report)


def on_invoice(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    return _invoice(gateway, _object_id(event), actor)


def on_invoice_payment(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    return _invoice(gateway, _object_id(event, "invoice"), actor)


def _payment_intent(gateway: Gateway, intent_id: str) -> str:
    fetched = gateway.retrieve("payment_intents", intent_id, expand=["latest_charge"])
    if fetched.obj is None:
        return f"payment intent {intent_id} gone on Stripe; nothing to do"
    report = stripe_payment_intent_upsert(
        obj=fetched.obj, fetched_at=fetched.fetched_at, gateway=gateway
    )
    return _outcome("payment intent", intent_id, report)


def on_payment_intent(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    return _payment_intent(gateway, _object_id(event))


def on_refund(gateway: Gateway, event: dict[str, Any], actor: Actor) -> str:
    """``charge.refunded`` and ``refund.*`` (both carry ``payment_intent``): the payment and
    all its refunds re-read, as the refund request itself does."""
    intent_id = _object_id(event, "payment_intent")
    report = stripe_payment_sync_in_transaction(gateway=gateway, intent_id=intent_id)
    return _outcome("payment intent", intent_id, report)


def _for(types: str, handler: Handler) -> dict[str, Handler]:
    return dict.fromkeys(types.split(), handler)


EVENT_HANDLERS: dict[str, Handler] = {
    **_for("product.created product.updated product.deleted", on_product),
    **_for("price.created price.updated price.deleted", on_price),
    **_for("customer.created customer.updated customer.deleted", on_customer),
    **_for(
        "customer.subscription.created customer.subscription.updated "
        "customer.subscription.deleted customer.subscription.paused "
        "customer.subscription.resumed customer.subscription.trial_will_end "
        "customer.subscription.pending_update_applied "
        "customer.subscription.pending_update_expired",
        on_subscription,
    ),
    **_for(
        "invoice.created invoice.finalized invoice.paid invoice.payment_succeeded "
        "invoice.payment_failed invoice.payment_action_required invoice.updated "
        "invoice.voided invoice.marked_uncollectible",
        on_invoice,
    ),
    **_for("invoice_payment.paid", on_invoice_payment),
    **_for(
        "payment_intent.succeeded payment_intent.payment_failed payment_intent.canceled "
        "payment_intent.processing",
        on_payment_intent,
    ),
    **_for("charge.refunded refund.created refund.updated refund.failed", on_refund),
}
