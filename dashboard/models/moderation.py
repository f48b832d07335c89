"""Bans: one row per user currently banned through Backoffice, remembering what the ban
replaced. The row is deleted on unban; the audit trail keeps the history."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Timestamp, utcnow
from dashboard.models.users import UserRole


class UserModeration(Base):
    __tablename__ = "bo_user_moderation"
    __table_args__ = BO_TABLE_ARGS
    # expire-bans looks for bans whose end has passed.
    __table_args__ = (
        sa.Index("bo_user_moderation_banned_until_idx", "banned_until"),
        BO_TABLE_ARGS,
    )

    user_id: Mapped[str] = mapped_column(
        sa.Text,
        sa.ForeignKey("User.id", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    previous_role: Mapped[UserRole] = mapped_column(
        sa.Enum(UserRole, native_enum=False, length=16, create_constraint=False), nullable=False
    )
    banned_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    banned_until: Mapped[datetime | None] = mapped_column(Timestamp)
    banned_by_label: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)

    def __str__(self) -> str:
        return f"ban of {self.user_id}"
