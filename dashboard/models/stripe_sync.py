"""Backoffice's own Stripe bookkeeping: webhook deliveries, per-object sync marks,
per-user refresh times, and customers that match no user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Json, Timestamp, utcnow


class StripeEventRecord(Base):
    """Every Stripe event delivered to the webhook (or pulled from /v1/events), stored
    before it is acted on. ``processed_at`` is set in the transaction that applied it."""

    __tablename__ = "bo_stripe_event"
    __table_args__ = (
        sa.Index("bo_stripe_event_received_at_idx", "received_at", "id"),
        sa.Index("bo_stripe_event_created_idx", "created"),
        sa.Index("bo_stripe_event_type_idx", "type", "created"),
        BO_TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(sa.Text, primary_key=True)  # Stripe's evt_...
    type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    livemode: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    api_version: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    source: Mapped[str] = mapped_column(
        sa.Text, nullable=False, default="webhook", server_default="webhook"
    )
    received_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # What processing did: "applied: ...", "ignored: no handler", ...
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=1, server_default=sa.text("1")
    )
    error: Mapped[str | None] = mapped_column(sa.Text)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class StripeSyncMark(Base):
    """When each Stripe object's stored state was read from Stripe.

    ``fetched_at`` (microseconds since the epoch) is taken before the request that read the
    object left. A write carries the time of its read and only lands if no later read has
    been written already, so an older listing page or a slower webhook never overwrites
    newer state, whatever the order of commits (see README, "How the sync orders writes").
    """

    __tablename__ = "bo_stripe_sync_mark"
    __table_args__ = BO_TABLE_ARGS

    stripe_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    object_type: Mapped[str] = mapped_column(sa.Text, nullable=False)
    fetched_at: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # Stripe said the object no longer exists (resource_missing) as of fetched_at.
    deleted: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )


class StripeUserRefresh(Base):
    """The last on-access refresh of a user's subscriptions from Stripe."""

    __tablename__ = "bo_stripe_refresh"
    __table_args__ = BO_TABLE_ARGS

    user_id: Mapped[str] = mapped_column(
        sa.Text,
        sa.ForeignKey("User.id", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    attempted_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    refreshed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error: Mapped[str | None] = mapped_column(sa.Text)


class StripeUnlinkedCustomer(Base):
    """A Stripe customer that matches no user (by metadata.userId, then email), kept so it
    is reported instead of silently dropped. Removed once a sync links it."""

    __tablename__ = "bo_stripe_unlinked_customer"
    __table_args__ = BO_TABLE_ARGS

    stripe_customer_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.Text)
    name: Mapped[str | None] = mapped_column(sa.Text)
    user_id_hint: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
