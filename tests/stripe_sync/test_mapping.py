"""Mapping Stripe's current (and legacy) object shapes to rows: no database, no network."""

from __future__ import annotations

from datetime import datetime

import pytest

from dashboard.services.stripe.mapping import (
    MappingError,
    invoice_grant,
    invoice_payments,
    payment_intent_row,
    price_row,
    product_row,
    subscription_row,
)

T0, T1 = 1_767_225_600, 1_769_904_000  # 2026-01-01, 2026-02-01 UTC
PRICE = {
    "id": "price_1",
    "product": "prod_1",
    "currency": "usd",
    "unit_amount": 900,
    "recurring": {"interval": "month", "interval_count": 1},
    "type": "recurring",
    "active": True,
}


def _subscription(**top) -> dict:  # noqa: ANN003
    item = {"id": "si_1", "price": PRICE, "current_period_start": T0, "current_period_end": T1}
    return {
        "id": "sub_1",
        "customer": "cus_1",
        "status": "active",
        "items": {"data": [item]},
        **top,
    }


def test_period_from_the_first_item():
    row = subscription_row(_subscription())
    assert (row["current_period_start"], row["current_period_end"]) == (
        datetime(2026, 1, 1),
        datetime(2026, 2, 1),
    )
    assert (row["stripe_price_id"], row["stripe_product_id"]) == ("price_1", "prod_1")


def test_period_falls_back_to_the_legacy_top_level_fields():
    sub = _subscription(current_period_start=T0, current_period_end=T1)
    for key in ("current_period_start", "current_period_end"):
        del sub["items"]["data"][0][key]
    assert subscription_row(sub)["current_period_end"] == datetime(2026, 2, 1)


@pytest.mark.parametrize("broken", ["no period", "no items", "no customer"])
def test_an_unmappable_subscription_says_why(broken):
    sub = _subscription()
    if broken == "no period":
        del sub["items"]["data"][0]["current_period_end"]
    elif broken == "no items":
        sub["items"]["data"] = []
    else:
        sub["customer"] = None
    with pytest.raises(MappingError, match="sub_1"):
        subscription_row(sub)


@pytest.mark.parametrize(
    "raw, tokens", [("250", 250), (" 7 ", 7), ("lots", None), ("-3", None), (None, None)]
)
def test_product_tokens_come_from_metadata(raw, tokens):
    metadata = {"tokens": raw} if raw is not None else {}
    assert product_row({"id": "prod_1", "name": "Pro", "metadata": metadata})["tokens"] == tokens


def test_a_price_with_an_expanded_product():
    assert price_row({**PRICE, "product": {"id": "prod_9"}})["product_id"] == "prod_9"


def test_payments_come_from_invoice_payments_else_the_legacy_payment_intent():
    invoice = {
        "id": "in_1",
        "currency": "usd",
        "created": T0,
        "status": "paid",
        "attempted": True,
        "payments": {
            "data": [
                {
                    "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
                    "amount_paid": 900,
                    "status": "paid",
                    "created": T0,
                },
                {
                    "payment": {"type": "payment_intent", "payment_intent": {"id": "pi_0"}},
                    "amount_requested": 900,
                    "status": "open",
                    "created": T0,
                },
            ]
        },
    }
    rows = invoice_payments(invoice)
    assert [(r["stripe_payment_intent_id"], r["status"], r["amount"]) for r in rows] == [
        ("pi_1", "succeeded", 900),
        ("pi_0", "failed", 900),
    ]
    legacy = {
        "id": "in_2",
        "currency": "usd",
        "created": T0,
        "status": "paid",
        "payment_intent": "pi_2",
        "amount_paid": 500,
    }
    assert [(r["stripe_payment_intent_id"], r["status"]) for r in invoice_payments(legacy)] == [
        ("pi_2", "succeeded")
    ]


def test_a_refunded_payment_intent():
    intent = {
        "id": "pi_1",
        "status": "succeeded",
        "amount": 900,
        "amount_received": 900,
        "currency": "usd",
        "created": T0,
        "latest_charge": {"id": "ch_1", "refunded": True},
    }
    assert payment_intent_row(intent)["status"] == "refunded"
    failed = {**intent, "status": "requires_payment_method", "latest_charge": "ch_1"}
    assert payment_intent_row(failed)["status"] == "failed"


def test_the_grant_reads_the_line_period_and_product_in_both_shapes():
    line = {
        "period": {"start": T0, "end": T1},
        "pricing": {"price_details": {"price": "price_1", "product": "prod_1"}},
    }
    invoice = {
        "id": "in_1",
        "customer": "cus_1",
        "status": "paid",
        "lines": {"data": [line]},
        "parent": {"subscription_details": {"subscription": "sub_1"}},
    }
    grant = invoice_grant(invoice)
    assert (grant.product_id, grant.subscription_id, grant.period_end, grant.paid) == (
        "prod_1",
        "sub_1",
        datetime(2026, 2, 1),
        True,
    )
    legacy_line = {"period": {"start": T0, "end": T1}, "price": PRICE}
    legacy = {
        "id": "in_2",
        "customer": "cus_1",
        "status": "open",
        "subscription": "sub_2",
        "lines": {"data": [legacy_line]},
    }
    grant = invoice_grant(legacy)
    assert (grant.product_id, grant.subscription_id, grant.paid) == ("prod_1", "sub_2", False)
