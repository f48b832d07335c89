"""The token ledger: every change to a user's token balance is one row."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.audit import BigId
from dashboard.models.base import BO_TABLE_ARGS, Base, Timestamp, utcnow


class LedgerKind(enum.StrEnum):
    GRANT = "GRANT"
    DEDUCT = "DEDUCT"
    SUBSCRIPTION_GRANT = "SUBSCRIPTION_GRANT"
    GENERATION_CHARGE = "GENERATION_CHARGE"
    GENERATION_REFUND = "GENERATION_REFUND"
    EXPIRY = "EXPIRY"
    OPENING_BALANCE = "OPENING_BALANCE"
    CORRECTION = "CORRECTION"


class TokenLedgerEntry(Base):
    __tablename__ = "bo_token_ledger"
    __table_args__ = (
        # A retried grant with the same business reference is never applied twice.
        sa.Index("bo_token_ledger_kind_reference_key", "kind", "reference", unique=True),
        sa.Index("bo_token_ledger_user_id_idx", "user_id", "id"),
        BO_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        sa.Text, sa.ForeignKey("User.id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False
    )
    delta: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    balance_after: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    kind: Mapped[LedgerKind] = mapped_column(
        sa.Enum(LedgerKind, native_enum=False, length=32, create_constraint=False), nullable=False
    )
    reason: Mapped[str | None] = mapped_column(sa.Text)
    reference: Mapped[str | None] = mapped_column(sa.Text)
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)  # tokensExpiresAt set
    actor_label: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor_staff_id: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
