"""Post title search: lower(title) text_pattern_ops (PostgreSQL only, like the User e-mail
and name indexes of 0003). A user's sessions and accounts are indexed by 0007.

Revision ID: 0008_views
Revises: 0007_userpage
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008_views"
down_revision = "0007_userpage"
branch_labels = None
depends_on = None

PLAIN: tuple[tuple[str, str, str], ...] = ()
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
