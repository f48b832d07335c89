"""moderation: bans and the role they replaced

Revision ID: 0005_moderation
Revises: 0004_post_generation
Create Date: 2026-11-26 03:31:15.994316
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_moderation"
down_revision = "0004_post_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bo_user_moderation",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column(
            "previous_role",
            sa.Enum(
                "USER", "PREMIUM", "ADMIN", "BANNED", name="userrole", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "banned_at",
            sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "banned_until",
            sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql"),
            nullable=True,
        ),
        sa.Column("banned_by_label", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["User.id"],
            name=op.f("bo_user_moderation_user_id_fkey"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("bo_user_moderation_pkey")),
    )
    op.create_index(
        "bo_user_moderation_banned_until_idx", "bo_user_moderation", ["banned_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index("bo_user_moderation_banned_until_idx", table_name="bo_user_moderation")
    op.drop_table("bo_user_moderation")
