"""Support's money tools: the Stripe refunds of each payment (bo_payment_refund), in
Backoffice's schema.

Revision ID: 0013_support_money
Revises: 0012_live_beside_seed
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_support_money"
down_revision = "0012_live_beside_seed"
branch_labels = None
depends_on = None

SCHEMA = "backoffice"  # the models' placeholder, translated by the engine (SQLite: none)
TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bo_payment_refund",
        sa.Column("stripe_refund_id", sa.Text(), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("stripe_refund_id", name=op.f("bo_payment_refund_pkey")),
        schema=SCHEMA,
    )
    op.create_index(
        "bo_payment_refund_payment_intent_idx",
        "bo_payment_refund",
        ["stripe_payment_intent_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(
        "bo_payment_refund_payment_intent_idx", table_name="bo_payment_refund", schema=SCHEMA
    )
    op.drop_table("bo_payment_refund", schema=SCHEMA)
