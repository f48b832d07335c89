"""BlogPost: meta description, keywords and image alt text of generated posts

Nullable columns only: the seed application's Prisma client does not know them and keeps
working, and `flask db-adopt` checks the seed schema before this revision runs.

Revision ID: 0004_post_generation
Revises: 0003_list_indexes
Create Date: 2026-11-26 03:30:49.351273
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_post_generation"
down_revision = "0003_list_indexes"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("BlogPost", sa.Column("meta_description", sa.Text(), nullable=True))
    op.add_column("BlogPost", sa.Column("keywords", JSON, nullable=True))
    op.add_column("BlogPost", sa.Column("image_alt", sa.Text(), nullable=True))


def downgrade() -> None:
    # Batch mode so that SQLite, which cannot always drop columns in place, works too.
    with op.batch_alter_table("BlogPost") as batch:
        batch.drop_column("image_alt")
        batch.drop_column("keywords")
        batch.drop_column("meta_description")
