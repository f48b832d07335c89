"""The append-only audit trail: who changed what, when, from where, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Json, Timestamp, utcnow

# Postgres refuses UPDATE, DELETE and TRUNCATE on the table (trigger in migration 0002);
# SQLite refuses UPDATE and DELETE.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AuditLog(Base):
    __tablename__ = "bo_audit_log"
    __table_args__ = (
        sa.Index("bo_audit_log_target_idx", "target_model", "target_id", "id"),
        sa.Index("bo_audit_log_actor_staff_id_idx", "actor_staff_id", "id"),
        sa.Index("bo_audit_log_action_idx", "action", "id"),
        sa.Index("bo_audit_log_created_at_idx", "created_at"),
        # The per-IP sign-in limit counts recent failures from one address.
        sa.Index("bo_audit_log_ip_created_at_idx", "ip", "created_at"),
        BO_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    # "staff:<email>" for people, "cli" / "stripe-webhook" / "job:<kind>" for the system.
    actor_label: Mapped[str] = mapped_column(sa.Text, nullable=False)
    actor_staff_id: Mapped[str | None] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.Text, nullable=False)
    target_model: Mapped[str | None] = mapped_column(sa.Text)
    target_id: Mapped[str | None] = mapped_column(sa.Text)
    # {"field": {"before": ..., "after": ...}}, secrets replaced by "[redacted]".
    changes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    ip: Mapped[str | None] = mapped_column(sa.Text)
    user_agent: Mapped[str | None] = mapped_column(sa.Text)

    def __str__(self) -> str:
        return f"{self.action} {self.target_model or ''} {self.target_id or ''}".strip()
