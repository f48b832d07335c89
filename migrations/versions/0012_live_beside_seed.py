"""Live beside the seed application: nothing Backoffice adds can break a Prisma write.

- BlogPost's generation fields (meta_description, keywords, image_alt, added by 0004) move to
  Backoffice's own ``bo_post_seo`` table keyed by the post (ON DELETE CASCADE), so the seed
  application's tables are exactly what its Prisma schema says. Rows are copied over; the
  downgrade copies them back.
- ``bo_token_ledger`` loses its ``balance_after >= 0`` CHECK: the seed application may take
  ``User.tokens`` below zero, and the opening balance or correction that books such a balance
  must be writable (Backoffice's own changes still never go below zero, in services.tokens).
- ``bo_staff.user_id`` becomes nullable with ON DELETE SET NULL (was RESTRICT, which made the
  seed application's user delete fail), and a trigger deactivates the staff account (and
  ends its sessions) when that happens.

The downgrade puts everything back. It fails (CheckViolation) where the ledger holds a
negative balance rather than delete ledger rows, and it deletes the staff accounts whose user
is gone, which a NOT NULL user_id cannot hold (their audit rows stay).

Revision ID: 0012_live_beside_seed
Revises: 0011_backoffice_schema
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app
from sqlalchemy.dialects import postgresql

revision = "0012_live_beside_seed"
down_revision = "0011_backoffice_schema"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
SEO_COLUMNS = ("meta_description", "keywords", "image_alt")
LEDGER_CHECK = "bo_token_ledger_balance_after_not_negative_check"
STAFF_FK = "bo_staff_user_id_fkey"
TRIGGER = "bo_staff_user_deleted"

PG_TRIGGER = """
CREATE FUNCTION {schema}.bo_staff_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.is_active := false;
  NEW.session_version := OLD.session_version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER bo_staff_user_deleted BEFORE UPDATE OF user_id ON {schema}.bo_staff
  FOR EACH ROW WHEN (OLD.user_id IS NOT NULL AND NEW.user_id IS NULL)
  EXECUTE FUNCTION {schema}.bo_staff_user_deleted();
"""
SQLITE_TRIGGER = """
CREATE TRIGGER bo_staff_user_deleted AFTER UPDATE OF user_id ON bo_staff
  FOR EACH ROW WHEN OLD.user_id IS NOT NULL AND NEW.user_id IS NULL
BEGIN
  UPDATE bo_staff SET is_active = 0, session_version = session_version + 1 WHERE id = NEW.id;
END
"""


def _schema() -> str | None:
    if op.get_context().dialect.name != "postgresql":
        return None
    return current_app.config["BACKOFFICE_DB_SCHEMA"]


def _qualified(table: str, schema: str | None) -> str:
    return f'"{schema}"."{table}"' if schema else f'"{table}"'


def _staff_fk(batch, *, ondelete: str) -> None:
    batch.create_foreign_key(
        STAFF_FK, "User", ["user_id"], ["id"], ondelete=ondelete, onupdate="CASCADE"
    )


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "bo_post_seo",
        sa.Column("post_id", sa.Text(), nullable=False),
        sa.Column("meta_description", sa.Text(), nullable=True),
        sa.Column("keywords", JSON, nullable=True),
        sa.Column("image_alt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["BlogPost.id"],
            name="bo_post_seo_post_id_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", name="bo_post_seo_pkey"),
        schema=schema,
    )
    columns = ", ".join(SEO_COLUMNS)
    op.execute(
        f"INSERT INTO {_qualified('bo_post_seo', schema)} (post_id, {columns}) "
        f'SELECT id, {columns} FROM "BlogPost" '
        f"WHERE {' OR '.join(f'{c} IS NOT NULL' for c in SEO_COLUMNS)}"
    )
    with op.batch_alter_table("BlogPost") as batch:
        for column in reversed(SEO_COLUMNS):
            batch.drop_column(column)

    with op.batch_alter_table("bo_token_ledger", schema=schema) as batch:
        batch.drop_constraint(op.f(LEDGER_CHECK), type_="check")

    with op.batch_alter_table("bo_staff", schema=schema) as batch:
        batch.drop_constraint(STAFF_FK, type_="foreignkey")
        batch.alter_column("user_id", existing_type=sa.Text(), nullable=True)
        _staff_fk(batch, ondelete="SET NULL")
    if schema is None:
        op.execute(SQLITE_TRIGGER)
    else:
        op.execute(PG_TRIGGER.format(schema=f'"{schema}"'))


def downgrade() -> None:
    schema = _schema()
    if schema is None:
        op.execute(f"DROP TRIGGER {TRIGGER}")
    else:
        op.execute(f'DROP TRIGGER {TRIGGER} ON "{schema}".bo_staff')
        op.execute(f'DROP FUNCTION "{schema}".{TRIGGER}()')
    # Staff accounts whose user is gone cannot point anywhere: they go (their audit rows,
    # which hold ids and e-mails as text, stay).
    op.execute(f"DELETE FROM {_qualified('bo_staff', schema)} WHERE user_id IS NULL")
    with op.batch_alter_table("bo_staff", schema=schema) as batch:
        batch.drop_constraint(STAFF_FK, type_="foreignkey")
        batch.alter_column("user_id", existing_type=sa.Text(), nullable=False)
        _staff_fk(batch, ondelete="RESTRICT")

    with op.batch_alter_table("bo_token_ledger", schema=schema) as batch:
        batch.create_check_constraint(op.f(LEDGER_CHECK), "balance_after >= 0")

    op.add_column("BlogPost", sa.Column("meta_description", sa.Text(), nullable=True))
    op.add_column("BlogPost", sa.Column("keywords", JSON, nullable=True))
    op.add_column("BlogPost", sa.Column("image_alt", sa.Text(), nullable=True))
    seo = _qualified("bo_post_seo", schema)
    copied = ", ".join(
        f'{c} = (SELECT s.{c} FROM {seo} s WHERE s.post_id = "BlogPost".id)' for c in SEO_COLUMNS
    )
    op.execute(f'UPDATE "BlogPost" SET {copied} WHERE id IN (SELECT post_id FROM {seo})')
    op.drop_table("bo_post_seo", schema=schema)
