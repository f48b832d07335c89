"""Background jobs: what was asked, by whom, and how it went, whatever ran it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dashboard.models.base import BO_TABLE_ARGS, Base, Json, Timestamp, cuid, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "bo_job"
    __table_args__ = (
        sa.Index("bo_job_idempotency_key_key", "idempotency_key", unique=True),
        sa.Index("bo_job_kind_status_idx", "kind", "status", "created_at"),
        sa.Index("bo_job_created_at_idx", "created_at", "id"),
        BO_TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(sa.Text, primary_key=True, default=cuid)
    kind: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[JobStatus] = mapped_column(
        sa.Enum(
            JobStatus,
            native_enum=False,
            length=16,
            create_constraint=False,
            values_callable=lambda e: [m.value for m in e],
        ),
        nullable=False,
        default=JobStatus.QUEUED,
    )
    params: Mapped[dict[str, Any] | None] = mapped_column(Json)
    progress: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default=sa.text("0")
    )
    progress_message: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(sa.Text)
    idempotency_key: Mapped[str | None] = mapped_column(sa.Text)
    requested_by_label: Mapped[str] = mapped_column(sa.Text, nullable=False)
    requested_by_staff_id: Mapped[str | None] = mapped_column(sa.Text)
    # The user the job is about, if any (e.g. whose post is generated).
    subject_user_id: Mapped[str | None] = mapped_column(
        sa.Text, sa.ForeignKey("User.id", ondelete="SET NULL", onupdate="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, default=utcnow, onupdate=utcnow
    )

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"
