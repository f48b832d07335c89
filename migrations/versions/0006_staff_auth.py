"""Staff sign-in: forced password change, TOTP replay guard, per-IP limit index

Revision ID: 0006_staff_auth
Revises: 0005_moderation
Create Date: 2026-11-26 03:31:50.639240
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_staff_auth"
down_revision = "0005_moderation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The per-IP sign-in limit counts recent failures from one address.
    op.create_index(
        "bo_audit_log_ip_created_at_idx", "bo_audit_log", ["ip", "created_at"], unique=False
    )
    with op.batch_alter_table("bo_staff") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column(
                "password_change_required",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("bo_staff") as batch:
        batch.drop_column("password_change_required")
        batch.drop_column("totp_last_step")
    op.drop_index("bo_audit_log_ip_created_at_idx", table_name="bo_audit_log")
