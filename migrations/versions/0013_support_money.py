"""Support's money tools and data requests: Stripe refunds per payment
(bo_payment_refund), the accounting archive of erased customers' payments
(bo_payment_archive) and recorded audit redactions (bo_audit_redaction), all in
Backoffice's schema.

Revision ID: 0013_support_money
Revises: 0011_backoffice_schema
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_support_money"
down_revision = "0011_backoffice_schema"
branch_labels = None
depends_on = None

SCHEMA = "backoffice"  # the models' placeholder, translated by the engine (SQLite: none)
TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


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
    op.create_table(
        "bo_payment_archive",
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("amount_refunded", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("paid_at", TIMESTAMP, nullable=False),
        sa.Column("archived_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("stripe_payment_intent_id", name=op.f("bo_payment_archive_pkey")),
        schema=SCHEMA,
    )
    op.create_index("bo_payment_archive_user_idx", "bo_payment_archive", ["user_id"], schema=SCHEMA)
    op.create_table(
        "bo_audit_redaction",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_id", sa.Text(), nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("bo_audit_redaction_pkey")),
        schema=SCHEMA,
    )
    op.create_index(
        "bo_audit_redaction_target_idx", "bo_audit_redaction", ["target_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("bo_audit_redaction_target_idx", table_name="bo_audit_redaction", schema=SCHEMA)
    op.drop_table("bo_audit_redaction", schema=SCHEMA)
    op.drop_index("bo_payment_archive_user_idx", table_name="bo_payment_archive", schema=SCHEMA)
    op.drop_table("bo_payment_archive", schema=SCHEMA)
    op.drop_index(
        "bo_payment_refund_payment_intent_idx", table_name="bo_payment_refund", schema=SCHEMA
    )
    op.drop_table("bo_payment_refund", schema=SCHEMA)
