"""The jobs and webhook events lists sort newest first on (time, id): index exactly that,
so a page is an index scan with LIMIT however many rows pile up.

Revision ID: 0010_list_order_indexes
Revises: 0009_stripe_events
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010_list_order_indexes"
down_revision = "0009_stripe_events"
branch_labels = None
depends_on = None

CHANGES = (
    ("bo_job_created_at_idx", "bo_job", ["created_at"], ["created_at", "id"]),
    (
        "bo_stripe_event_received_at_idx",
        "bo_stripe_event",
        ["received_at"],
        ["received_at", "id"],
    ),
)


def upgrade() -> None:
    for name, table, _old, new in CHANGES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, new)


def downgrade() -> None:
    for name, table, old, _new in CHANGES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, old)
