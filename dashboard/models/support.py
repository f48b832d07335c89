"""Backoffice's own table for support's money tools: the refunds Stripe made on each
payment."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Timestamp, utcnow


class PaymentRefund(Base):
    """One Stripe refund (``re_...``) of a payment, as Stripe last said. The sum of the
    refunds that are not ``failed``/``canceled`` is what a payment has had refunded (the
    seed's PaymentHistory has no column for it). ``requested_by``/``reason`` are set once,
    by the Backoffice request that made the refund (None: made elsewhere, e.g. Stripe's
    dashboard), so a retried request is recognised and audited once."""

    __tablename__ = "bo_payment_refund"
    __table_args__ = (
        sa.Index("bo_payment_refund_payment_intent_idx", "stripe_payment_intent_id"),
        BO_TABLE_ARGS,
    )

    stripe_refund_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    stripe_payment_intent_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    amount: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    currency: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    requested_by: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str | None] = mapped_column(sa.Text)
