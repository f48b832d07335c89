"""``flask prisma-additions``: the migration and schema.prisma lines for the seed team."""

from __future__ import annotations

import shutil
from pathlib import Path

from dashboard.ops.prisma import added_indexes

SEED_SCHEMA = Path(__file__).resolve().parents[2] / "prisma" / "schema.prisma"


def test_it_writes_one_migration_and_adds_the_index_lines_once(runner, tmp_path):
    schema = tmp_path / "schema.prisma"
    shutil.copy(SEED_SCHEMA, schema)
    out = tmp_path / "migrations"
    args = ["prisma-additions", "--out", str(out), "--schema", str(schema)]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    (migration,) = out.glob("*_backoffice_indexes/migration.sql")
    sql = migration.read_text()
    for index in added_indexes():
        assert f"CREATE INDEX IF NOT EXISTS {index.name} ON" in sql
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in sql
    assert '  @@index([userId, createdAt], map: "bo_post_user_id_idx")' in first.output
    assert "bo_user_email_pattern_idx" not in first.output  # an expression: no Prisma form
    edited = schema.read_text()
    assert edited.count('@@index([tokensExpiresAt], map: "bo_user_tokens_expiry_idx")') == 1

    again = runner.invoke(args=["prisma", "additions", "--out", str(out), "--schema", str(schema)])
    assert again.exit_code == 0, again.output
    assert list(out.glob("*_backoffice_indexes")) == [migration.parent]
    assert schema.read_text() == edited
