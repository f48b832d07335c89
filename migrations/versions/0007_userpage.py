"""Indexes for the customer page: a user's accounts, sessions and latest payments.

"Account" and "Session" have no index on "userId" in the Prisma schema, so reading one
user's rows (and deleting their sessions on every ban) scanned the whole table. A user's
latest payments came from "PaymentHistory_userId_idx" plus a sort of all of their payments;
("userId", "createdAt", id) reads the newest 20 directly.

Like 0003, each index blocks writes to its table while it builds; run it in a quiet hour on
a large database.

Revision ID: 0007_userpage
Revises: 0006_staff_auth
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007_userpage"
down_revision = "0006_staff_auth"
branch_labels = None
depends_on = None

INDEXES = (
    ("bo_account_user_id_idx", "Account", ["userId"]),
    ("bo_session_user_id_expires_idx", "Session", ["userId", "expires"]),
    ("bo_payment_user_created_at_idx", "PaymentHistory", ["userId", "createdAt", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
