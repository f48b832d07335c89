"""Indexes for the related lists of a user's details page, and post title search.

A user's details page links to their sessions and sign-in accounts (lists filtered on
userId, searched by the user's e-mail); Prisma gives "Session" and "Account" no index on
userId, so those were sequential scans of ~500,000 and ~850,000 rows. Posts are searched
by title prefix (lower(title) text_pattern_ops, PostgreSQL only, like the User e-mail and
name indexes of 0007).

Revision ID: 0008_views
Revises: 0003_staff_auth
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008_views"
down_revision = "0003_staff_auth"
branch_labels = None
depends_on = None

PLAIN = (
    ("bo_session_user_id_idx", "Session", '"userId"'),
    ("bo_account_user_id_idx", "Account", '"userId"'),
)
POSTGRESQL_ONLY = (
    (
        "bo_post_title_pattern_idx",
        'CREATE INDEX bo_post_title_pattern_idx ON "BlogPost" (lower(title) text_pattern_ops)',
    ),
)


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    for name, table, columns in PLAIN:
        op.execute(f'CREATE INDEX {name} ON "{table}" ({columns})')
    if _postgresql():
        for _name, statement in POSTGRESQL_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        for name, _statement in POSTGRESQL_ONLY:
            op.execute(f"DROP INDEX {name}")
    for name, _table, _columns in PLAIN:
        op.execute(f"DROP INDEX {name}")
