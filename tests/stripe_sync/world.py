"""A small Stripe world in the fake, with its local user: one customer on one plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from dashboard.extensions import db
from dashboard.models import (
    PaymentHistory,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    TokenLedgerEntry,
    User,
    UserSubscription,
)
from dashboard.services.stripe.gateway import StripeSettings
from tests.factories import make_user
from tests.fakes.stripe_server import FakeStripe


def stripe_settings() -> StripeSettings:
    """The current app's Stripe settings, built as its doors build them."""
    return StripeSettings.from_config(current_app.config)


@dataclass
class World:
    user: User
    product: dict[str, Any]
    price: dict[str, Any]
    customer: dict[str, Any]
    subscription: dict[str, Any]
    invoice: dict[str, Any] | None


def build_world(
    fake: FakeStripe,
    *,
    email: str | None = None,
    status: str = "active",
    tokens: int = 100,
    invoice: bool = True,
    link_by: str = "metadata",
    **user: Any,
) -> World:
    local = make_user(**({"email": email} if email else {}), **user)
    db.session.commit()
    product = fake.add_product("Pro", tokens=tokens)
    price = fake.add_price(product)
    customer = fake.add_customer(local.email, user_id=local.id if link_by == "metadata" else None)
    subscription = fake.add_subscription(customer, price, status=status)
    paid = fake.add_invoice(subscription) if invoice else None
    return World(local, product, price, customer, subscription, paid)


def counts() -> dict[str, int]:
    """Row counts of everything the sync writes."""
    models = (
        StripeProduct,
        StripePrice,
        StripeCustomer,
        UserSubscription,
        PaymentHistory,
        TokenLedgerEntry,
    )
    return {
        m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in models
    }


def user_state(user_id: str) -> tuple[str, str, str | None, int]:
    user = db.session.get(User, user_id, populate_existing=True)
    return user.role.value, user.membership_status.value, user.stripe_product_id, user.tokens
