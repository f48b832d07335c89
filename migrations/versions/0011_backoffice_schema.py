"""Backoffice's own tables and functions move into a PostgreSQL schema of their own
(BACKOFFICE_DB_SCHEMA, default ``backoffice``), so that the seed application's Prisma tools,
which look only at ``public``, never see them and never propose to drop them.

``ALTER ... SET SCHEMA`` keeps every row, index, constraint, owned sequence and trigger;
the downgrade moves them back. The version table itself is moved by migrations/env.py
before any revision runs (Alembic must find it to know where the database stands). SQLite
has no schemas: nothing to do there.

Revision ID: 0011_backoffice_schema
Revises: 0010_list_order_indexes
Create Date: 2026-12-04
"""

from alembic import op
from flask import current_app

revision = "0011_backoffice_schema"
down_revision = "0010_list_order_indexes"
branch_labels = None
depends_on = None

TABLES = (
    "bo_audit_log",
    "bo_job",
    "bo_staff",
    "bo_stripe_event",
    "bo_stripe_refresh",
    "bo_stripe_sync_mark",
    "bo_stripe_unlinked_customer",
    "bo_token_ledger",
    "bo_user_moderation",
)
FUNCTIONS = ("bo_audit_log_refuse_change()",)


def _move(source: str, target: str) -> None:
    op.execute(f'CREATE SCHEMA IF NOT EXISTS "{target}"')
    for table in TABLES:
        op.execute(f'ALTER TABLE "{source}"."{table}" SET SCHEMA "{target}"')
    for function in FUNCTIONS:
        op.execute(f'ALTER FUNCTION "{source}".{function} SET SCHEMA "{target}"')


def _schema() -> str | None:
    if op.get_context().dialect.name != "postgresql":
        return None
    return current_app.config["BACKOFFICE_DB_SCHEMA"]


def upgrade() -> None:
    schema = _schema()
    if schema is not None:
        _move("public", schema)


def downgrade() -> None:
    schema = _schema()
    if schema is not None:
        _move(schema, "public")
