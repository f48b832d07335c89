"""The demo Stripe catalogue: one product per plan with a monthly and a yearly price, an
archived legacy plan and a one-time token pack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dashboard.demo.rows import Table
from dashboard.demo.vocabulary import PLANS


def catalogue_rows(as_of: datetime) -> tuple[Table, Table, list[dict[str, Any]]]:
    """The product and price tables, and the recurring plans customers subscribe to."""
    products = Table(
        "StripeProduct",
        ("id", "name", "description", "active", "tokens", "metadata", "createdAt", "updatedAt"),
    )
    prices = Table(
        "StripePrice",
        (
            "id",
            "productId",
            "unitAmount",
            "currency",
            "interval",
            "intervalCount",
            "type",
            "active",
        ),
    )
    plans: list[dict[str, Any]] = []
    created = as_of - timedelta(days=900)
    for key, name, tokens, monthly, yearly in PLANS:
        product_id = f"prod_demo{key}"
        products.rows.append(
            (
                product_id,
                name,
                f"{name} plan: {tokens} tokens a month",
                True,
                tokens,
                {"tokens": str(tokens), "plan": key},
                created,
                created,
            )
        )
        for interval, amount in (("month", monthly), ("year", yearly)):
            price_id = f"price_demo{key}{interval}"
            price = (price_id, product_id, amount, "usd", interval, 1, "recurring", True)
            prices.rows.append(price)
            plans.append(
                {
                    "product": product_id,
                    "price": price_id,
                    "amount": amount,
                    "interval": interval,
                    "tokens": tokens,
                }
            )
    # An archived plan with an archived price: Stripe never deletes them.
    products.rows.append(
        (
            "prod_demolegacy",
            "Legacy Basic",
            "Retired in 2025",
            False,
            5,
            {"tokens": "5"},
            created,
            created,
        )
    )
    prices.rows.append(
        ("price_demolegacymonth", "prod_demolegacy", 500, "usd", "month", 1, "recurring", False)
    )
    prices.rows.append(
        ("price_demotokenpack", "prod_demopro", 1500, "usd", None, None, "one_time", True)
    )
    return products, prices, plans
