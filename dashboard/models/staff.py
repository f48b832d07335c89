"""Backoffice's own staff accounts: who may sign in, with which role and second factor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.core.roles import StaffRole
from dashboard.models.base import BO_TABLE_ARGS, Base, Json, Timestamp, cuid, utcnow

if TYPE_CHECKING:
    from dashboard.models.users import User


# Higher rank may act on lower rank (ban, manage); used by moderation and staff rules.
# What stands for the e-mail of a staff account whose User the seed application deleted.
USER_DELETED = "(user deleted)"

STAFF_ROLE_RANK = {StaffRole.EDITOR: 1, StaffRole.SUPPORT: 2, StaffRole.ADMIN: 3}


class StaffAccount(Base):
    """Links a seed-app ``User`` to a staff role. Secrets are hashes; never rendered."""

    __tablename__ = "bo_staff"
    __table_args__ = (
        sa.UniqueConstraint("user_id", name="bo_staff_user_id_key"),
        sa.CheckConstraint("role IN ('ADMIN', 'SUPPORT', 'EDITOR')", name="role"),
        BO_TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(sa.Text, primary_key=True, default=cuid)
    # NULL once the seed application deleted the user: the account stays, deactivated (a
    # trigger of migration 0012; services.staff on SQLite), so its audit history reads on.
    user_id: Mapped[str | None] = mapped_column(
        sa.Text, sa.ForeignKey("User.id", ondelete="SET NULL", onupdate="CASCADE")
    )
    role: Mapped[StaffRole] = mapped_column(
        sa.Enum(StaffRole, native_enum=False, length=16, create_constraint=False), nullable=False
    )
    password_hash: Mapped[str | None] = mapped_column(sa.Text)
    totp_secret: Mapped[str | None] = mapped_column(sa.Text)
    # The last TOTP time step accepted, so that no code works twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # argon2 hashes of unused recovery codes.
    recovery_code_hashes: Mapped[list[Any]] = mapped_column(Json, nullable=False, default=list)
    failed_sign_ins: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default=sa.text("0")
    )
    lockouts: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default=sa.text("0")
    )
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_sign_in_ip: Mapped[str | None] = mapped_column(sa.Text)
    # Set for invited staff and after an admin's password reset: the next sign-in must
    # choose a new password before anything else.
    password_change_required: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    is_active: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    # Bumped to end every browser session of this staff member at once.
    session_version: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=1, server_default=sa.text("1")
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, default=utcnow, onupdate=utcnow
    )

    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def email(self) -> str:
        return USER_DELETED if self.user is None else self.user.email

    @property
    def totp_enrolled(self) -> bool:
        return bool(self.totp_secret)

    def __str__(self) -> str:
        return f"{self.email} ({self.role.value})"
