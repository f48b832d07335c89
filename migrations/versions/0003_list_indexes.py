"""Indexes for lists, sorts and search on millions of rows (PostgreSQL).

Sorts are allowed only on indexed columns; each list's default order (newest first) and
each filter+order pair has an index, so a first page is an index scan with LIMIT. Search:
lower(col) text_pattern_ops serves exact and prefix matches, pg_trgm GIN serves substrings.
On SQLite (the embedded demo) only the plain column indexes are created.

"User" gets as few indexes as the pages need: every bulk change of balances or roles
rewrites an entry in each of them (filters on role or membership status walk the
createdAt index, or use (role, membershipStatus) for the rare values). Substring search is
offered on e-mail only (trigram GIN indexes are the costliest to keep up to date); names
are searched by prefix.

On a large live database these take a while and block writes to the table being indexed
while they build (about a minute for 1M users on 2 cores); run the upgrade in a quiet hour.

Revision ID: 0003_list_indexes
Revises: 0002_staff_audit_ledger_jobs
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003_list_indexes"
down_revision = "0002_staff_audit_ledger_jobs"
branch_labels = None
depends_on = None

PLAIN = (
    ("bo_user_created_at_idx", "User", '"createdAt", id'),
    ("bo_user_role_membership_idx", "User", 'role, "membershipStatus"'),
    ("bo_user_tokens_expiry_idx", "User", '"tokensExpiresAt"'),
    ("bo_subscription_created_at_idx", "UserSubscription", '"createdAt", id'),
    ("bo_subscription_status_created_at_idx", "UserSubscription", 'status, "createdAt", id'),
    ("bo_subscription_status_price_idx", "UserSubscription", 'status, "stripePriceId"'),
    ("bo_payment_created_at_idx", "PaymentHistory", '"createdAt", id'),
    ("bo_payment_status_created_at_idx", "PaymentHistory", 'status, "createdAt", id'),
    ("bo_post_created_at_idx", "BlogPost", "created_at, id"),
    ("bo_post_published_idx", "BlogPost", "is_published, published_at"),
    ("bo_post_user_id_idx", "BlogPost", "user_id, created_at"),
)
POSTGRESQL_ONLY = (
    'CREATE INDEX bo_user_email_pattern_idx ON "User" (lower(email) text_pattern_ops)',
    'CREATE INDEX bo_user_email_trgm_idx ON "User" USING gin (lower(email) gin_trgm_ops)',
    'CREATE INDEX bo_user_name_pattern_idx ON "User" (lower(name) text_pattern_ops)',
)
POSTGRESQL_ONLY_NAMES = (
    "bo_user_email_pattern_idx",
    "bo_user_email_trgm_idx",
    "bo_user_name_pattern_idx",
)


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    for name, table, columns in PLAIN:
        op.execute(f'CREATE INDEX {name} ON "{table}" ({columns})')
    if _postgresql():
        # pg_trgm is a trusted extension: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for statement in POSTGRESQL_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        for name in POSTGRESQL_ONLY_NAMES:
            op.execute(f"DROP INDEX {name}")
    for name, _table, _columns in PLAIN:
        op.execute(f"DROP INDEX {name}")
