"""Backoffice's own tables for support's money tools and data requests: the refunds Stripe
made on each payment, the accounting archive of an erased customer's payments, and the
recorded redactions that the (append-only) audit trail is read through."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Json, Timestamp, utcnow


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


class PaymentArchive(Base):
    """A payment of an erased customer, kept for the books with no personal data: the seed
    schema deletes PaymentHistory with its User."""

    __tablename__ = "bo_payment_archive"
    __table_args__ = (sa.Index("bo_payment_archive_user_idx", "user_id"), BO_TABLE_ARGS)

    stripe_payment_intent_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.Text, nullable=False)  # no foreign key: erased
    amount: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amount_refunded: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default=sa.text("0")
    )
    currency: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.Text, nullable=False)
    paid_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    archived_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)


class AuditRedaction(Base):
    """A recorded redaction of the audit trail: the audit table refuses UPDATE and DELETE
    (a trigger), so an erased customer's personal values are hidden by this row, which
    every reader of the trail (history, audit views, exports) applies. ``values`` are the
    strings to hide wherever they appear in rows about ``target_id``."""

    __tablename__ = "bo_audit_redaction"
    __table_args__ = (sa.Index("bo_audit_redaction_target_idx", "target_id"), BO_TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    target_id: Mapped[str] = mapped_column(sa.Text, nullable=False)
    values: Mapped[list[str]] = mapped_column(Json, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
