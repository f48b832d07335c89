"""The seed application's schema exactly as Prisma creates it from schema.prisma, frozen.

Revision 0001 creates these tables and ``flask db-adopt`` checks an existing database against
them. Never edit this module to follow a model change: Backoffice's own changes go into later
migrations. (The models may add nullable or defaulted columns to these tables; this file
does not.)
"""

from __future__ import annotations

import sqlalchemy as sa

from dashboard.models.base import NAMING_CONVENTION, Json, Timestamp

USER_ROLE_VALUES = ("USER", "PREMIUM", "ADMIN", "BANNED")
MEMBERSHIP_STATUS_VALUES = ("ACTIVE", "INACTIVE", "CANCELED", "PAST_DUE")
ENUM_TYPES = {"UserRole": USER_ROLE_VALUES, "MembershipStatus": MEMBERSHIP_STATUS_VALUES}


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=nullable)


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target], ondelete=ondelete, onupdate="CASCADE")


def _unique(table: str, *columns: str) -> sa.Index:
    return sa.Index(f"{table}_{'_'.join(columns)}_key", *columns, unique=True)


def _created(name: str = "createdAt") -> sa.Column:
    return sa.Column(name, Timestamp, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP"))


def prisma_metadata() -> sa.MetaData:
    """A fresh MetaData holding the ten shared tables as Prisma creates them."""
    md = sa.MetaData(naming_convention=NAMING_CONVENTION)
    user_role = sa.Enum(*USER_ROLE_VALUES, name="UserRole")
    membership = sa.Enum(*MEMBERSHIP_STATUS_VALUES, name="MembershipStatus")

    sa.Table(
        "StripeProduct",
        md,
        _text("id", False),
        _text("name", False),
        _text("description"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("tokens", sa.Integer),
        sa.Column("metadata", Json),
        _created(),
        sa.Column("updatedAt", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="StripeProduct_pkey"),
    )
    sa.Table(
        "User",
        md,
        _text("id", False),
        _text("email", False),
        _text("name"),
        sa.Column("role", user_role, nullable=False, server_default="USER"),
        _text("stripeProductId"),
        sa.Column("membershipStatus", membership, nullable=False, server_default="ACTIVE"),
        sa.Column("tokens", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("tokensExpiresAt", Timestamp),
        sa.Column("emailVerified", Timestamp),
        _text("image"),
        _created(),
        sa.Column("updatedAt", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="User_pkey"),
        _fk("stripeProductId", "StripeProduct.id", "SET NULL"),
        _unique("User", "email"),
    )
    sa.Table(
        "Account",
        md,
        _text("id", False),
        _text("userId", False),
        _text("type", False),
        _text("provider", False),
        _text("providerAccountId", False),
        _text("refresh_token"),
        _text("access_token"),
        sa.Column("expires_at", sa.Integer),
        _text("token_type"),
        _text("scope"),
        _text("id_token"),
        _text("session_state"),
        sa.PrimaryKeyConstraint("id", name="Account_pkey"),
        _fk("userId", "User.id", "CASCADE"),
        _unique("Account", "provider", "providerAccountId"),
    )
    sa.Table(
        "Session",
        md,
        _text("id", False),
        _text("sessionToken", False),
        _text("userId", False),
        sa.Column("expires", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="Session_pkey"),
        _fk("userId", "User.id", "CASCADE"),
        _unique("Session", "sessionToken"),
    )
    sa.Table(
        "VerificationToken",
        md,
        _text("identifier", False),
        _text("token", False),
        sa.Column("expires", Timestamp, nullable=False),
        _unique("VerificationToken", "token"),
        _unique("VerificationToken", "identifier", "token"),
    )
    sa.Table(
        "BlogPost",
        md,
        _text("id", False),
        _text("user_id", False),
        _text("title", False),
        _text("content", False),
        _text("original_text", False),
        _text("image_url"),
        _text("image_prompt"),
        sa.Column("tokens_used", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("character_count", sa.Integer, nullable=False),
        _text("slug"),
        sa.Column("is_published", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("published_at", Timestamp),
        _created("created_at"),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="BlogPost_pkey"),
        _fk("user_id", "User.id", "CASCADE"),
        _unique("BlogPost", "slug"),
    )
    sa.Table(
        "StripePrice",
        md,
        _text("id", False),
        _text("productId", False),
        sa.Column("unitAmount", sa.Integer),
        _text("currency", False),
        _text("interval"),
        sa.Column("intervalCount", sa.Integer),
        _text("type", False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("id", name="StripePrice_pkey"),
        _fk("productId", "StripeProduct.id", "RESTRICT"),
    )
    sa.Table(
        "StripeCustomer",
        md,
        _text("id", False),
        _text("userId", False),
        _text("stripeCustomerId", False),
        sa.PrimaryKeyConstraint("id", name="StripeCustomer_pkey"),
        _fk("userId", "User.id", "CASCADE"),
        _unique("StripeCustomer", "userId"),
        _unique("StripeCustomer", "stripeCustomerId"),
    )
    sa.Table(
        "UserSubscription",
        md,
        _text("id", False),
        _text("userId", False),
        _text("stripeSubscriptionId", False),
        _text("stripeProductId", False),
        _text("stripePriceId", False),
        _text("status", False),
        sa.Column("currentPeriodStart", Timestamp, nullable=False),
        sa.Column("currentPeriodEnd", Timestamp, nullable=False),
        sa.Column("cancelAtPeriodEnd", sa.Boolean, nullable=False, server_default=sa.false()),
        _created(),
        sa.Column("updatedAt", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="UserSubscription_pkey"),
        _fk("userId", "User.id", "CASCADE"),
        _fk("stripeProductId", "StripeProduct.id", "RESTRICT"),
        _fk("stripePriceId", "StripePrice.id", "RESTRICT"),
        _unique("UserSubscription", "stripeSubscriptionId"),
        sa.Index("UserSubscription_userId_status_idx", "userId", "status"),
    )
    sa.Table(
        "PaymentHistory",
        md,
        _text("id", False),
        _text("userId", False),
        _text("stripePaymentIntentId", False),
        sa.Column("amount", sa.Integer, nullable=False),
        _text("currency", False),
        _text("status", False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="PaymentHistory_pkey"),
        _fk("userId", "User.id", "CASCADE"),
        _unique("PaymentHistory", "stripePaymentIntentId"),
        sa.Index("PaymentHistory_userId_idx", "userId"),
    )
    return md


# Creation order: every table after the tables its foreign keys point to.
TABLE_ORDER = (
    "StripeProduct",
    "User",
    "Account",
    "Session",
    "VerificationToken",
    "BlogPost",
    "StripePrice",
    "StripeCustomer",
    "UserSubscription",
    "PaymentHistory",
)
