"""A demo customer's Stripe side: the customer row, one or two subscriptions and a payment
history roughly monthly since each began."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dashboard.demo.rows import Mint, Table
from dashboard.demo.vocabulary import (
    SUBSCRIPTION_STATUSES,
    pick_payment_status,
    pick_subscription_status,
)


def billing_tables() -> tuple[Table, Table, Table]:
    """Empty customer, subscription and payment tables for one chunk of users."""
    customers = Table("StripeCustomer", ("id", "userId", "stripeCustomerId"))
    subscriptions = Table(
        "UserSubscription",
        (
            "id",
            "userId",
            "stripeSubscriptionId",
            "stripeProductId",
            "stripePriceId",
            "status",
            "currentPeriodStart",
            "currentPeriodEnd",
            "cancelAtPeriodEnd",
            "createdAt",
            "updatedAt",
        ),
    )
    payments = Table(
        "PaymentHistory",
        (
            "id",
            "userId",
            "stripePaymentIntentId",
            "amount",
            "currency",
            "status",
            "createdAt",
        ),
    )
    return customers, subscriptions, payments


def billing_rows(
    mint: Mint,
    plans: list[dict[str, Any]],
    customers: Table,
    subscriptions: Table,
    payments: Table,
    *,
    user_id: str,
    created: datetime,
    forced: int,
    customer_share: float,
) -> tuple[list[str], str | None, datetime | None]:
    """A customer's subscriptions and payments; returns their statuses, the live plan's
    product and its period end."""
    rng = mint.rng
    statuses: list[str] = []
    product_for_user = None
    period_end = None
    if not (forced < 8 or rng.random() < customer_share):
        return statuses, None, None
    customers.rows.append((mint.cuid("customer"), user_id, mint.stripe_id("cus", "customer")))
    subscription_count = 2 if rng.random() < 0.15 else 1
    for sub_number in range(subscription_count):
        plan = plans[rng.randrange(len(plans))]
        if forced < 8 and sub_number == 0:
            status = SUBSCRIPTION_STATUSES[forced][0]
        elif sub_number == 1:
            status = "canceled"  # an earlier plan the customer left
        else:
            status = pick_subscription_status(rng)
        statuses.append(status)
        sub_created = max(created, mint.ago(700))
        days = 30 if plan["interval"] == "month" else 365
        if status in ("canceled", "incomplete_expired"):
            end = sub_created + timedelta(days=days)
            begin = sub_created
        else:
            end = mint.as_of + timedelta(days=rng.randrange(1, days))
            begin = end - timedelta(days=days)
        subscriptions.rows.append(
            (
                mint.cuid("subscription"),
                user_id,
                mint.stripe_id("sub", "subscription"),
                plan["product"],
                plan["price"],
                status,
                begin,
                end,
                status == "active" and rng.random() < 0.1,
                sub_created,
                sub_created,
            )
        )
        if status in ("active", "trialing", "past_due", "unpaid"):
            product_for_user = plan["product"]
            period_end = end
        # Payment history: roughly monthly since the subscription started.
        payment_count = rng.randint(1, 16)
        if sub_number == 1:
            payment_count = rng.randint(1, 3)
        for number in range(payment_count):
            paid = sub_created + timedelta(days=number * 30, hours=rng.random() * 5)
            if paid > mint.as_of:
                break
            pstatus = pick_payment_status(rng) if status != "past_due" else "failed"
            payments.rows.append(
                (
                    mint.cuid("payment"),
                    user_id,
                    mint.stripe_id("pi", "payment"),
                    plan["amount"],
                    "usd",
                    pstatus,
                    paid.replace(microsecond=paid.microsecond // 1000 * 1000),
                )
            )

    return statuses, product_for_user, period_end
