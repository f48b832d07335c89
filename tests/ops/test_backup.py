"""flask backup create / verify / restore, on PostgreSQL (pg_dump, scratch databases) and on
SQLite (the online backup API), through the command line as the person on call uses it."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import AuditLog
from dashboard.ops import backup as ops_backup
from dashboard.ops.archive import list_backups
from dashboard.ops.content import row_counts
from tests.conftest import build_schema, engine_for, settings_for
from tests.ops.conftest import DEMO_USERS

CONTENT_TABLES = ("User", "PaymentHistory", "StripePrice", "UserSubscription", "bo_token_ledger")


def invoke(app: Flask, *args: str, input: str | None = None):  # noqa: ANN201
    return app.test_cli_runner().invoke(args=["backup", *args], input=input)


def create_backup(app: Flask, backups: Path, *extra: str) -> Path:
    result = invoke(app, "create", "--dir", str(backups), *extra)
    assert result.exit_code == 0, result.output
    return list_backups(backups)[-1].archive


def manifest_of(archive: Path) -> dict:
    return json.loads(archive.with_name(archive.stem + ".manifest.json").read_text())


def rewrite_manifest(archive: Path, **changes: object) -> None:
    path = archive.with_name(archive.stem + ".manifest.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def counts(url: str) -> dict[str, int]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return row_counts(connection)
    finally:
        engine.dispose()


def contents(url: str) -> dict[str, list[tuple]]:
    engine = engine_for(url)
    try:
        metadata = sa.MetaData()
        own = "backoffice" if engine.dialect.name == "postgresql" else None
        shared = [name for name in CONTENT_TABLES if not name.startswith("bo_")]
        metadata.reflect(engine, only=shared)
        metadata.reflect(engine, schema=own, only=[n for n in CONTENT_TABLES if n not in shared])
        with engine.connect() as connection:
            return {
                table.name: connection.execute(
                    sa.select(table).order_by(*table.primary_key.columns)
                ).all()
                for table in metadata.tables.values()
            }
    finally:
        engine.dispose()


def execute(url: str, statement: str) -> None:
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


def leftover_scratch_databases(url: str) -> list[str]:
    if not url.startswith("postgresql"):
        return []
    engine = engine_for(url)
    with engine.connect() as connection:
        names = connection.execute(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE '%\\_verify\\_%'")
        ).scalars()
        found = [name for name in names if name.startswith(make_url(url).database[:40])]
    engine.dispose()
    return found


def target_name(url: str) -> str:
    parsed = make_url(url)
    return Path(parsed.database).name if url.startswith("sqlite") else parsed.database


def test_create_verify_restore_round_trip(source_app, source_url, target_url, backups):
    result = invoke(source_app, "create", "--dir", str(backups))
    assert result.exit_code == 0, result.output
    assert "Backup written" in result.output
    archive = list_backups(backups)[-1].archive
    manifest = manifest_of(archive)
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [archive.name, archive.stem + ".manifest.json"]
    )
    _known, heads = ops_backup.known_revisions()
    assert manifest["revision"] == heads[0] and heads[0] in archive.name
    assert re.search(r"-\d{8}T\d{6}\.\d{3}Z-", archive.name)
    assert manifest["tables"] == counts(source_url)
    assert manifest["tables"]["User"] == DEMO_USERS
    assert manifest["archive_bytes"] == archive.stat().st_size
    assert manifest["database_bytes"] > 0 and manifest["created_at"].endswith("Z")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    verified = invoke(source_app, "verify", str(archive))
    assert verified.exit_code == 0, verified.output
    assert "Verified" in verified.output and "MISMATCH" not in verified.output
    assert leftover_scratch_databases(source_url) == []

    restored = invoke(source_app, "restore", str(archive), "--into", target_url)
    assert restored.exit_code == 0, restored.output
    assert counts(target_url) == counts(source_url)
    assert contents(target_url) == contents(source_url)
    assert contents(source_url)["User"]  # the comparison compared something


def test_restore_into_a_target_with_tables_needs_force_and_the_typed_name(
    source_app, target_url, backups
):
    archive = create_backup(source_app, backups)
    build_schema(target_url)
    execute(target_url, "CREATE TABLE stray_from_a_later_migration (id integer)")
    name = target_name(target_url)

    refused = invoke(source_app, "restore", str(archive), "--into", target_url)
    assert refused.exit_code != 0
    assert "already has" in refused.output and "--force" in refused.output
    wrong = invoke(
        source_app, "restore", str(archive), "--into", target_url, "--force", input="y\n"
    )
    assert wrong.exit_code != 0 and "not confirmed" in wrong.output
    assert counts(target_url)["User"] == 0

    accepted = invoke(
        source_app, "restore", str(archive), "--into", target_url, "--force", input=f"{name}\n"
    )
    assert accepted.exit_code == 0, accepted.output
    restored = counts(target_url)
    assert restored["User"] == DEMO_USERS
    assert "stray_from_a_later_migration" not in restored


def _other_spelling(url: str) -> str:
    """The same database, written differently."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        return f"sqlite:///{path.parent}/./{path.name}"
    return url.replace("127.0.0.1", "localhost")


def test_restore_never_touches_the_live_database_without_the_flag(source_app, source_url, backups):
    archive = create_backup(source_app, backups)
    execute(source_url, 'DELETE FROM "Session"')
    for url in (source_url, _other_spelling(source_url)):
        result = invoke(source_app, "restore", str(archive), "--into", url, "--force", input="x\n")
        assert result.exit_code != 0
        assert "the database this Backoffice runs on" in result.output
    assert counts(source_url)["Session"] == 0

    name = target_name(source_url)
    result = invoke(
        source_app,
        "restore",
        str(archive),
        "--into",
        source_url,
        "--force",
        "--i-know-this-is-the-live-database",
        input=f"{name}\n",
    )
    assert result.exit_code == 0, result.output
    assert counts(source_url)["Session"] == manifest_of(archive)["tables"]["Session"] > 0
    with source_app.app_context():
        entries = db.session.scalars(sa.select(AuditLog)).all()
        assert [(e.action, e.actor_label) for e in entries] == [("backup.restore", "cli")]
        assert entries[0].details["archive"] == archive.name


def test_restore_refuses_a_backup_made_by_newer_code(source_app, target_url, backups):
    archive = create_backup(source_app, backups)
    rewrite_manifest(archive, revision="0099_from_the_future")
    result = invoke(source_app, "restore", str(archive), "--into", target_url)
    assert result.exit_code != 0
    assert "0099_from_the_future" in result.output and "newer code" in result.output
    if target_url.startswith("sqlite"):
        assert not Path(make_url(target_url).database).exists()
    else:
        assert counts(target_url) == {}


def _flip_a_byte(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def _truncate(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])


def _lose_manifest(archive: Path) -> None:
    archive.with_name(archive.stem + ".manifest.json").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_flip_a_byte, "is corrupted or was changed after the backup"),
        (_truncate, "is corrupted or incomplete"),
        (_lose_manifest, "has no manifest beside it"),
    ],
)
def test_a_damaged_backup_fails_verify_and_restore_clearly(
    source_app, source_url, target_url, backups, damage, message
):
    archive = create_backup(source_app, backups)
    damage(archive)
    verified = invoke(source_app, "verify", str(archive))
    assert verified.exit_code != 0
    assert message in verified.output and "Traceback" not in verified.output
    restored = invoke(source_app, "restore", str(archive), "--into", target_url)
    assert restored.exit_code != 0 and message in restored.output
    assert leftover_scratch_databases(source_url) == []


def test_verify_compares_the_restored_rows_with_the_manifest(source_app, source_url, backups):
    archive = create_backup(source_app, backups)
    tables = manifest_of(archive)["tables"]
    rewrite_manifest(archive, tables={**tables, "User": DEMO_USERS + 1})
    result = invoke(source_app, "verify", str(archive))
    assert result.exit_code != 0
    assert "did NOT verify" in result.output
    assert f"table User has {DEMO_USERS} rows, expected {DEMO_USERS + 1}" in result.output
    assert leftover_scratch_databases(source_url) == []


def test_keep_prunes_the_oldest_backups_of_this_database_only(source_app, backups):
    first = create_backup(source_app, backups)
    database = manifest_of(first)["database"]
    backups.joinpath("notes.txt").write_text("not a backup")
    other = backups / "backoffice-otherdb-20200101T000000.000Z-0001_prisma_schema.pgdump"
    other.write_bytes(b"x")
    other.with_name(other.stem + ".manifest.json").write_text("{}")
    leftover = backups / f"backoffice-{database}-20200101T000000.000Z-0001_prisma_schema.pgdump"
    leftover.write_bytes(b"half")

    create_backup(source_app, backups)
    result = invoke(source_app, "create", "--dir", str(backups), "--keep", "2")
    assert result.exit_code == 0, result.output
    assert f"Pruned {first.name}" in result.output
    mine = [b for b in list_backups(backups) if b.database == database]
    assert len(mine) == 2 and all(b.complete for b in mine)
    assert first.stem not in {b.stem for b in mine}
    assert not leftover.exists() and other.exists() and backups.joinpath("notes.txt").exists()


FAKE_PG_DUMP = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) {version}"; exit 0; fi
for argument in "$@"; do
  case "$argument" in --file=*) echo "half an archive" > "${{argument#--file=}}";; esac
done
echo "pg_dump: error: connection to server was lost" >&2
exit 1
"""


@pytest.mark.parametrize(
    ("fake_version", "message"),
    [
        (None, r"pg_dump was not found in PG_BIN_DIR"),
        ("9.6.24", r"pg_dump is version 9 but the server runs PostgreSQL \d+"),
        ("99.1", r"pg_dump failed \(exit code 1\): error: connection to server was lost"),
    ],
)
def test_create_fails_with_one_line_and_leaves_no_file(
    scratch_database_url, tmp_path, backups, fake_version, message
):
    build_schema(scratch_database_url)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if fake_version:
        script = bin_dir / "pg_dump"
        script.write_text(FAKE_PG_DUMP.format(version=fake_version))
        script.chmod(0o755)
    app = create_app(settings_for(scratch_database_url, PG_BIN_DIR=str(bin_dir)))
    result = invoke(app, "create", "--dir", str(backups))
    assert result.exit_code != 0
    assert re.search(message, result.output), result.output
    assert list(backups.iterdir()) == []
    with app.app_context():
        db.engine.dispose()
