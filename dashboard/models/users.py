"""The seed application's users and NextAuth tables (schema.prisma: User, Account, Session,
VerificationToken)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from dashboard.models.base import Base, Timestamp, cuid, foreign_key, unique_index, utcnow

if TYPE_CHECKING:
    from dashboard.models.billing import (
        PaymentHistory,
        StripeCustomer,
        StripeProduct,
        UserSubscription,
    )
    from dashboard.models.posts import BlogPost


class UserRole(enum.StrEnum):
    USER = "USER"
    PREMIUM = "PREMIUM"
    ADMIN = "ADMIN"
    BANNED = "BANNED"


class MembershipStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    CANCELED = "CANCELED"
    PAST_DUE = "PAST_DUE"


def _enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_cls]


UserRoleType = sa.Enum(UserRole, name="UserRole", values_callable=_enum_values)
MembershipStatusType = sa.Enum(
    MembershipStatus, name="MembershipStatus", values_callable=_enum_values
)


class User(Base):
    __tablename__ = "User"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="User_pkey"),
        unique_index("User", "email"),
        # Backoffice's own indexes (migration 0003), for lists and search on millions of rows.
        sa.Index("bo_user_created_at_idx", "createdAt", "id"),
        # Index-only scan for the dashboard's users-by-role-and-status figure.
        sa.Index("bo_user_role_membership_idx", "role", "membershipStatus"),
        sa.Index("bo_user_email_pattern_idx", sa.text("lower(email) text_pattern_ops")),
        sa.Index(
            "bo_user_email_trgm_idx", sa.text("lower(email) gin_trgm_ops"), postgresql_using="gin"
        ),
        sa.Index("bo_user_name_pattern_idx", sa.text("lower(name) text_pattern_ops")),
        sa.Index("bo_user_tokens_expiry_idx", "tokensExpiresAt"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    email: Mapped[str] = mapped_column("email", sa.Text, nullable=False)
    name: Mapped[str | None] = mapped_column("name", sa.Text)
    role: Mapped[UserRole] = mapped_column(
        "role", UserRoleType, nullable=False, default=UserRole.USER, server_default="USER"
    )
    stripe_product_id: Mapped[str | None] = mapped_column(
        "stripeProductId", sa.Text, foreign_key("StripeProduct.id", ondelete="SET NULL")
    )
    membership_status: Mapped[MembershipStatus] = mapped_column(
        "membershipStatus",
        MembershipStatusType,
        nullable=False,
        default=MembershipStatus.ACTIVE,
        server_default="ACTIVE",
    )
    tokens: Mapped[int] = mapped_column(
        "tokens", sa.Integer, nullable=False, default=0, server_default=sa.text("0")
    )
    tokens_expires_at: Mapped[datetime | None] = mapped_column("tokensExpiresAt", Timestamp)
    email_verified: Mapped[datetime | None] = mapped_column("emailVerified", Timestamp)
    image: Mapped[str | None] = mapped_column("image", sa.Text)
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

    # Collections that can hold millions of rows are write-only: reading them takes an
    # explicit query (user.payments.select()), so nothing loads them by accident.
    accounts: WriteOnlyMapped[Account] = relationship(back_populates="user", passive_deletes=True)
    sessions: WriteOnlyMapped[Session] = relationship(back_populates="user", passive_deletes=True)
    blog_posts: WriteOnlyMapped[BlogPost] = relationship(
        back_populates="user", passive_deletes=True
    )
    subscriptions: WriteOnlyMapped[UserSubscription] = relationship(
        back_populates="user", passive_deletes=True
    )
    payments: WriteOnlyMapped[PaymentHistory] = relationship(
        back_populates="user", passive_deletes=True
    )
    stripe_customer: Mapped[StripeCustomer | None] = relationship(
        back_populates="user", passive_deletes=True, uselist=False, lazy="raise_on_sql"
    )
    stripe_product: Mapped[StripeProduct | None] = relationship(back_populates="users")

    def __repr__(self) -> str:
        return f"<User {self.email}>"

    def __str__(self) -> str:
        return self.email


class Account(Base):
    __tablename__ = "Account"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="Account_pkey"),
        unique_index("Account", "provider", "providerAccountId"),
        # Backoffice's (migration 0007): a user's accounts and sessions without a table scan
        # (the customer page, and every ban deletes the user's sessions).
        sa.Index("bo_account_user_id_idx", "userId"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    user_id: Mapped[str] = mapped_column(
        "userId", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column("type", sa.Text, nullable=False)
    provider: Mapped[str] = mapped_column("provider", sa.Text, nullable=False)
    provider_account_id: Mapped[str] = mapped_column("providerAccountId", sa.Text, nullable=False)
    refresh_token: Mapped[str | None] = mapped_column("refresh_token", sa.Text)
    access_token: Mapped[str | None] = mapped_column("access_token", sa.Text)
    expires_at: Mapped[int | None] = mapped_column("expires_at", sa.Integer)
    token_type: Mapped[str | None] = mapped_column("token_type", sa.Text)
    scope: Mapped[str | None] = mapped_column("scope", sa.Text)
    id_token: Mapped[str | None] = mapped_column("id_token", sa.Text)
    session_state: Mapped[str | None] = mapped_column("session_state", sa.Text)

    user: Mapped[User] = relationship(back_populates="accounts")

    def __str__(self) -> str:
        return f"{self.provider} account"


class Session(Base):
    """A NextAuth database session of a customer (not a staff session)."""

    __tablename__ = "Session"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="Session_pkey"),
        unique_index("Session", "sessionToken"),
        sa.Index("bo_session_user_id_expires_idx", "userId", "expires"),
    )

    id: Mapped[str] = mapped_column("id", sa.Text, default=cuid)
    session_token: Mapped[str] = mapped_column("sessionToken", sa.Text, nullable=False)
    user_id: Mapped[str] = mapped_column(
        "userId", sa.Text, foreign_key("User.id", ondelete="CASCADE"), nullable=False
    )
    expires: Mapped[datetime] = mapped_column("expires", Timestamp, nullable=False)

    user: Mapped[User] = relationship(back_populates="sessions")

    def __str__(self) -> str:
        return f"session {self.id}"


class VerificationToken(Base):
    __tablename__ = "VerificationToken"
    # Prisma gives this model no primary key, only two unique keys; the ORM needs an
    # identity, so the (unique) token serves as one without a PRIMARY KEY constraint.
    __table_args__ = (
        unique_index("VerificationToken", "token"),
        unique_index("VerificationToken", "identifier", "token"),
    )

    identifier: Mapped[str] = mapped_column("identifier", sa.Text, nullable=False)
    token: Mapped[str] = mapped_column("token", sa.Text, nullable=False)
    expires: Mapped[datetime] = mapped_column("expires", Timestamp, nullable=False)

    __mapper_args__ = {"primary_key": [token]}

    def __str__(self) -> str:
        return f"verification for {self.identifier}"
