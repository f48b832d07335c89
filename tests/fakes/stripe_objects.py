"""Builders of Stripe objects in the current API shape, bound as methods of FakeStripe.

Each adds a consistent object graph (a paid invoice gets its payment intent, charge and
invoice payment) and returns the stored object, a plain dict the test may change with
``fake.update``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.stripe_server import FakeStripe

DAY = 86400


def add_product(
    fake: FakeStripe,
    name: str = "Pro",
    *,
    tokens: int | None = 100,
    active: bool = True,
    metadata: dict[str, str] | None = None,
    id: str | None = None,  # noqa: A002 - Stripe's field name
) -> dict:
    meta = dict(metadata or {})
    if tokens is not None:
        meta.setdefault("tokens", str(tokens))
    created = fake.tick()
    return fake.put(
        {
            "id": id or fake.new_id("prod"),
            "object": "product",
            "active": active,
            "created": created,
            "updated": created,
            "default_price": None,
            "description": f"{name} plan",
            "images": [],
            "livemode": fake.livemode,
            "marketing_features": [],
            "metadata": meta,
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "unit_label": None,
            "url": None,
        }
    )


def add_price(
    fake: FakeStripe,
    product: dict,
    *,
    unit_amount: int = 900,
    interval: str | None = "month",
    active: bool = True,
    currency: str = "usd",
) -> dict:
    return fake.put(
        {
            "id": fake.new_id("price"),
            "object": "price",
            "active": active,
            "billing_scheme": "per_unit",
            "created": fake.tick(),
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": fake.livemode,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product["id"],
            "recurring": (
                {"interval": interval, "interval_count": 1, "meter": None, "usage_type": "licensed"}
                if interval
                else None
            ),
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if interval else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
    )


def add_customer(
    fake: FakeStripe, email: str, *, user_id: str | None = None, name: str | None = None
) -> dict:
    return fake.put(
        {
            "id": fake.new_id("cus"),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": fake.tick(),
            "currency": "usd",
            "default_source": None,
            "delinquent": False,
            "description": None,
            "email": email,
            "invoice_prefix": "ABC123",
            "invoice_settings": {"custom_fields": None, "default_payment_method": None},
            "livemode": fake.livemode,
            "metadata": {"userId": user_id} if user_id else {},
            "name": name,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
    )


def add_subscription(
    fake: FakeStripe,
    customer: dict,
    price: dict,
    *,
    status: str = "active",
    start: int | None = None,
    end: int | None = None,
    legacy: bool = False,
    cancel_at_period_end: bool = False,
) -> dict:
    """A subscription with one item; ``legacy`` puts the period at the top level (the shape
    before 2025-03-31) instead of on the item."""
    created = fake.tick()
    start = start if start is not None else created
    end = end if end is not None else start + 30 * DAY
    sub_id = fake.new_id("sub")
    item: dict[str, Any] = {
        "id": fake.new_id("si"),
        "object": "subscription_item",
        "created": created,
        "metadata": {},
        "price": price["id"],
        "quantity": 1,
        "subscription": sub_id,
    }
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "billing_cycle_anchor": start,
        "cancel_at": None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": created if status == "canceled" else None,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "customer": customer["id"],
        "default_payment_method": None,
        "ended_at": created if status == "canceled" else None,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": fake.livemode,
        "metadata": {},
        "start_date": start,
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }
    if legacy:
        sub["current_period_start"], sub["current_period_end"] = start, end
    else:
        item["current_period_start"], item["current_period_end"] = start, end
    return fake.put(sub)


def set_subscription_period(fake: FakeStripe, sub_id: str, start: int, end: int) -> dict:
    with fake.lock:
        sub = fake.get(sub_id)
        item = sub["items"]["data"][0]
        item["current_period_start"], item["current_period_end"] = start, end
        return sub


def add_invoice(
    fake: FakeStripe,
    subscription: dict,
    *,
    status: str = "paid",
    amount: int | None = None,
    legacy: bool = False,
    period: tuple[int, int] | None = None,
) -> dict:
    """An invoice for ``subscription`` with its payment intent, charge and invoice payment.
    ``status`` "paid" succeeds; "open" has a failed attempt. ``legacy`` sets the pre-2025
    ``payment_intent`` field instead of the ``payments`` list."""
    price = fake.get(subscription["items"]["data"][0]["price"])
    amount = price["unit_amount"] if amount is None else amount
    item = subscription["items"]["data"][0]
    start = item.get("current_period_start", subscription.get("current_period_start"))
    end = item.get("current_period_end", subscription.get("current_period_end"))
    start, end = period or (start, end)
    created = fake.tick()
    paid = status == "paid"
    invoice_id, pi_id, charge_id = fake.new_id("in"), fake.new_id("pi"), fake.new_id("ch")
    fake.put(
        {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "created": created,
            "currency": price["currency"],
            "customer": subscription["customer"],
            "livemode": fake.livemode,
            "paid": paid,
            "payment_intent": pi_id,
            "refunded": False,
            "status": "succeeded" if paid else "failed",
        }
    )
    fake.put(
        {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if paid else 0,
            "created": created,
            "currency": price["currency"],
            "customer": subscription["customer"],
            "latest_charge": charge_id,
            "livemode": fake.livemode,
            "metadata": {},
            "status": "succeeded" if paid else "requires_payment_method",
        }
    )
    payment = fake.put(
        {
            "id": fake.new_id("inpay"),
            "object": "invoice_payment",
            "amount_paid": amount if paid else None,
            "amount_requested": amount,
            "created": created,
            "currency": price["currency"],
            "invoice": invoice_id,
            "is_default": True,
            "livemode": fake.livemode,
            "payment": {"type": "payment_intent", "payment_intent": pi_id},
            "status": "paid" if paid else "open",
            "status_transitions": {"canceled_at": None, "paid_at": created if paid else None},
        }
    )
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if paid else 0,
        "amount_remaining": 0 if paid else amount,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "customer": subscription["customer"],
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": fake.new_id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": price["currency"],
                    "description": "1 x plan",
                    "period": {"start": start, "end": end},
                    "pricing": {
                        "type": "price_details",
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "unit_amount_decimal": str(amount),
                    },
                    "quantity": 1,
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": subscription["id"],
                            "subscription_item": item["id"],
                        },
                    },
                }
            ],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": fake.livemode,
        "metadata": {},
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription["id"], "metadata": {}},
            "quote_details": None,
        },
        "period_end": created,
        "period_start": created,
        "status": status,
        "status_transitions": {"paid_at": created if paid else None},
        "total": amount,
        "_payments": [payment["id"]],
    }
    if legacy:
        invoice["_payments"] = []
        invoice["payment_intent"] = pi_id
        invoice["subscription"] = subscription["id"]
        del invoice["parent"]
    fake.update(subscription["id"], latest_invoice=invoice_id)
    return fake.put(invoice)
