"""The seed application's schema, exactly as Prisma creates it from schema.prisma.

A database the seed application already created is at this revision: `flask db-adopt`
checks it and stamps it, so `flask db upgrade` only adds what comes after.

Revision ID: 0001_prisma_schema
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from dashboard.prisma_schema import ENUM_TYPES, TABLE_ORDER, prisma_metadata

revision = "0001_prisma_schema"
down_revision = None
branch_labels = None
depends_on = None


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    metadata = prisma_metadata()
    if _is_postgresql():
        for name, values in ENUM_TYPES.items():
            op.execute(postgresql.CreateEnumType(postgresql.ENUM(*values, name=name)))
    for name in TABLE_ORDER:
        table = metadata.tables[name]
        op.execute(sa.schema.CreateTable(table))
        for index in sorted(table.indexes, key=lambda index: index.name):
            op.execute(sa.schema.CreateIndex(index))


def downgrade() -> None:
    metadata = prisma_metadata()
    for name in reversed(TABLE_ORDER):
        op.execute(sa.schema.DropTable(metadata.tables[name]))
    if _is_postgresql():
        for name in ENUM_TYPES:
            op.execute(f'DROP TYPE "{name}"')
