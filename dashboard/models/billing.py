"""Stripe mirror tables of the seed application (schema.prisma: StripeProduct, StripePrice,
StripeCustomer, UserSubscription, PaymentHistory). Stripe is their source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from dashboard.models.base import Base, Json, Timestamp, cuid, foreign_key, unique_index, utcnow

if TYPE_CHECKING:
    from dashboard.models.users import User


class StripeProduct(Base):
    __tablename__ = "StripeProduct"
    __table_args__ = (sa.PrimaryKeyConstraint("id", name="StripeProduct_pkey"),)

    id: Mapped[str] = mapped_column("id", sa.Text)  # Stripe's prod_... id
    name: Mapped[str] = mapped_column("name", sa.Text, nullable=False)
    description: Mapped[str | None] = mapped_column("description", sa.Text)
    active: Mapped[bool] = mapped_column(
        "active", sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    tokens: Mapped[int | None] = mapped_column("tokens", sa.Integer)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", Json)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt",
        Timestamp,
        nullable=False,
        default=utcnow,
        server_default=sa.text("CURRENT_TIMESTAMP"),
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", Timestamp, nullable=False, default=utcnow, onupdate=utcnow
    )

    prices: WriteOnlyMapped[StripePrice] = relationship(
        back_populates="product", passive_deletes=True
    )
    subscriptions: WriteOnlyMapped[UserSubscription] = relationship(
        back_populates="stripe_product", passive_deletes=True
    )
    users: WriteOnlyMapped[User] = relationship(
        back_populates="stripe_product", passive_deletes=True
    )

    def __str__(self) -> str:
        return self.name


class StripePrice(Base):
    __tablename__ = "StripePrice"
    __table_args__ = (sa.PrimaryKeyConstraint("id", name="StripePrice_pkey"),)

    id: Mapped[str] = mapped_column("id", sa.Text)  # Stripe's price_... id
    product_id: Mapped[str] = mapped_column(
        "productId", sa.Text, foreign_key("StripeProduct.id", ondelete="RESTRICT"), nullable=False
    )
    unit_amount: Mapped[int | None] = mapped_column("unitAmount", sa.Integer)
    currency: Mapped[str] = mapped_column("currency", sa.Text, nullable=False)
    interval: Mapped[str | None] = mapped_column("interval", sa.Text)
    interval_count: Mapped[int | None] = mapped_column("intervalCount", sa.Integer)
    type: Mapped[str] = mapped_column("type", sa.Text, nullable=False)
    active: Mapped[bool] = mapped_column(
        "active", sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )

    product: Mapped[StripeProduct] = relationship(back_populates="prices")
    subscriptions: WriteOnlyMapped[UserSubscription] = relationship(
        back_populates="stripe_price", passive_deletes=True
    )

    def __str__(self) -> str:
        if self.unit_amount is None:
            return self.id
        amount = f"{self.unit_amount / 100:.2f} {self.currency.upper()}"
        return f"{amount}/{self.interval}" if self.interval else amount


class StripeCustomer(Base):
    __tablename__ = "StripeCustomer"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="StripeCustomer_pkey"),
        unique_index("StripeCustomer", "userId"),
        unique_index("StripeCustomer", "stripeCustomerId"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    user_id: Mapped[str] = mapped_column(
        "userId", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    stripe_customer_id: Mapped[str] = mapped_column("stripeCustomerId", sa.Text, nullable=False)

    user: Mapped[User] = relationship(back_populates="stripe_customer")

    def __str__(self) -> str:
        return self.stripe_customer_id


class UserSubscription(Base):
    __tablename__ = "UserSubscription"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="UserSubscription_pkey"),
        unique_index("UserSubscription", "stripeSubscriptionId"),
        sa.Index("UserSubscription_userId_status_idx", "userId", "status"),
        sa.Index("bo_subscription_created_at_idx", "createdAt", "id"),
        sa.Index("bo_subscription_status_created_at_idx", "status", "createdAt", "id"),
        sa.Index("bo_subscription_status_price_idx", "status", "stripePriceId"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    user_id: Mapped[str] = mapped_column(
        "userId", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    stripe_subscription_id: Mapped[str] = mapped_column(
        "stripeSubscriptionId", sa.Text, nullable=False
    )
    stripe_product_id: Mapped[str] = mapped_column(
        "stripeProductId",
        sa.Text,
        foreign_key("StripeProduct.id", ondelete="RESTRICT"),
        nullable=False,
    )
    stripe_price_id: Mapped[str] = mapped_column(
        "stripePriceId",
        sa.Text,
        foreign_key("StripePrice.id", ondelete="RESTRICT"),
        nullable=False,
    )
    status: Mapped[str] = mapped_column("status", sa.Text, nullable=False)
    current_period_start: Mapped[datetime] = mapped_column(
        "currentPeriodStart", Timestamp, nullable=False
    )
    current_period_end: Mapped[datetime] = mapped_column(
        "currentPeriodEnd", Timestamp, nullable=False
    )
    cancel_at_period_end: Mapped[bool] = mapped_column(
        "cancelAtPeriodEnd", sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    created_at: Mapped[datetime] = mapped_column(
        "createdAt",
        Timestamp,
        nullable=False,
        default=utcnow,
        server_default=sa.text("CURRENT_TIMESTAMP"),
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", Timestamp, nullable=False, default=utcnow, onupdate=utcnow
    )

    user: Mapped[User] = relationship(back_populates="subscriptions")
    stripe_product: Mapped[StripeProduct] = relationship(back_populates="subscriptions")
    stripe_price: Mapped[StripePrice] = relationship(back_populates="subscriptions")

    def __str__(self) -> str:
        return self.stripe_subscription_id


class PaymentHistory(Base):
    __tablename__ = "PaymentHistory"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="PaymentHistory_pkey"),
        unique_index("PaymentHistory", "stripePaymentIntentId"),
        sa.Index("PaymentHistory_userId_idx", "userId"),
        sa.Index("bo_payment_created_at_idx", "createdAt", "id"),
        sa.Index("bo_payment_status_created_at_idx", "status", "createdAt", "id"),
        # A user's latest payments (the customer page) read 20 index entries, not all of them.
        sa.Index("bo_payment_user_created_at_idx", "userId", "createdAt", "id"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    user_id: Mapped[str] = mapped_column(
        "userId", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    stripe_payment_intent_id: Mapped[str] = mapped_column(
        "stripePaymentIntentId", sa.Text, nullable=False
    )
    amount: Mapped[int] = mapped_column("amount", sa.Integer, nullable=False)
    currency: Mapped[str] = mapped_column("currency", sa.Text, nullable=False)
    status: Mapped[str] = mapped_column("status", sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt",
        Timestamp,
        nullable=False,
        default=utcnow,
        server_default=sa.text("CURRENT_TIMESTAMP"),
    )

    user: Mapped[User] = relationship(back_populates="payments")

    def __str__(self) -> str:
        return self.stripe_payment_intent_id
