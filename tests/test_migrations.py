"""Migrations: they build exactly the Prisma schema, agree with the models, roll back, and
adopt a database the seed application created."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import SHARED_TABLES
from tests.conftest import engine_for, settings_for

PRISMA_SQL = Path(__file__).parent / "fixtures" / "prisma_init.sql"


def _apply_prisma_sql(url: str) -> None:
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(PRISMA_SQL.read_text())
    engine.dispose()


def _structure(url: str) -> dict:
    """Everything Prisma's naming and typing rules decide, read back from the database."""
    engine = engine_for(url)
    inspector = sa.inspect(engine)
    shape = {}
    for table in sorted(SHARED_TABLES):
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "fks": sorted(
                (
                    f["name"],
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(sorted(f["options"].items())),
                )
                for f in inspector.get_foreign_keys(table)
            ),
        }
    with engine.connect() as connection:
        shape["enums"] = connection.execute(
            sa.text(
                "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e "
                "JOIN pg_type t ON t.oid = e.enumtypid GROUP BY t.typname ORDER BY t.typname"
            )
        ).all()
    engine.dispose()
    return shape


def _app(url: str):
    return create_app(settings_for(url))


def _prisma_structure(scratch_database_url: str) -> dict:
    """The structure Prisma's own SQL builds, in a second scratch database beside this one."""
    prisma_url = scratch_database_url + "_prisma"
    admin = engine_for(scratch_database_url, isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(prisma_url).database
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        _apply_prisma_sql(prisma_url)
        return _structure(prisma_url)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_first_revision_creates_exactly_what_prisma_creates(scratch_database_url, tmp_path):
    app = _app(scratch_database_url)
    with app.app_context():
        upgrade(revision="0001_prisma_schema")
        db.engine.dispose()
    ours = _structure(scratch_database_url)
    # The same schema built from Prisma's own SQL.
    assert _prisma_structure(scratch_database_url) == ours


def test_upgrade_downgrade_base_upgrade_round_trip(scratch_database_url):
    app = _app(scratch_database_url)
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(SHARED_TABLES) <= tables
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        with db.engine.connect() as connection:
            enums = connection.execute(sa.text("SELECT count(*) FROM pg_type WHERE typtype='e'"))
            assert enums.scalar() == 0
        upgrade()
        assert set(sa.inspect(db.engine).get_table_names()) == tables
        db.engine.dispose()


def test_models_and_migrations_agree(scratch_database_url):
    app = _app(scratch_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_schemas": True,
                    "version_table_schema": "backoffice",
                    # The seed application's schema and Backoffice's own, nothing else.
                    "include_name": lambda name, type_, _parents: (
                        type_ != "schema" or name in (None, "backoffice")
                    ),
                },
            )
            differences = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert differences == []


@pytest.mark.backends("sqlite")
def test_upgrade_works_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    app = _app(url)
    with app.app_context():
        upgrade()
        assert set(SHARED_TABLES) <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_upgrade_sql_prints_the_schema_for_review(scratch_database_url):
    app = _app(scratch_database_url)
    result = app.test_cli_runner().invoke(args=["db", "upgrade", "--sql"])
    assert result.exit_code == 0, result.output
    assert 'CREATE TYPE "UserRole" AS ENUM' in result.output
    assert 'CREATE UNIQUE INDEX "User_email_key"' in result.output
    # --sql only prints: nothing was created.
    engine = engine_for(scratch_database_url)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_adopting_a_seed_database_adds_only_backoffice_tables(scratch_database_url):
    _apply_prisma_sql(scratch_database_url)
    engine = engine_for(scratch_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql('CREATE TABLE "_prisma_migrations" (id VARCHAR(36) PRIMARY KEY)')
        connection.exec_driver_sql(
            'INSERT INTO "User" (id, email, tokens, "updatedAt") '
            "VALUES ('u1', 'kept@example.com', 7, now())"
        )
    before = set(sa.inspect(engine).get_table_names())

    app = _app(scratch_database_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db-adopt"])
    assert result.exit_code == 0, result.output
    assert "Adopted" in result.output
    with app.app_context():
        upgrade()
        db.engine.dispose()

    inspector = sa.inspect(engine)
    # The seed application's schema gains nothing; Backoffice's tables and its migration
    # history are all in a schema of its own.
    assert set(inspector.get_table_names()) == before
    own = set(inspector.get_table_names(schema="backoffice"))
    assert "alembic_version" in own
    assert own - {"alembic_version"} == {
        table.name for table in db.metadata.sorted_tables if table.schema == "backoffice"
    }
    with engine.connect() as connection:
        assert connection.execute(sa.text('SELECT email, tokens FROM "User"')).all() == [
            ("kept@example.com", 7)
        ]
    engine.dispose()

    again = runner.invoke(args=["db-adopt"])
    assert again.exit_code != 0 and "already managed" in again.output


def test_adopt_refuses_a_database_that_differs_from_the_schema(scratch_database_url):
    _apply_prisma_sql(scratch_database_url)
    engine = engine_for(scratch_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql('ALTER TABLE "User" DROP COLUMN "image"')
        connection.exec_driver_sql('DROP INDEX "PaymentHistory_userId_idx"')
        connection.exec_driver_sql(
            'ALTER TABLE "Session" DROP CONSTRAINT "Session_userId_fkey", ADD CONSTRAINT '
            '"Session_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"(id) '
            "ON DELETE RESTRICT ON UPDATE CASCADE"
        )
    result = _app(scratch_database_url).test_cli_runner().invoke(args=["db-adopt"])
    assert result.exit_code != 0
    assert "refusing to adopt" in result.output
    assert "User.image" in result.output
    assert "PaymentHistory_userId_idx" in result.output
    assert "Session.userId has ONDELETE RESTRICT, expected CASCADE" in result.output
    assert "alembic_version" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_adopt_refuses_an_empty_database(scratch_database_url):
    result = _app(scratch_database_url).test_cli_runner().invoke(args=["db-adopt"])
    assert result.exit_code != 0
    assert "missing table User" in result.output


def test_at_head_the_shared_tables_are_prismas_plus_only_the_indexes_prisma_additions_lists(
    scratch_database_url,
):
    from dashboard.ops.prisma import added_indexes

    app = _app(scratch_database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    ours = _structure(scratch_database_url)
    added = {index.name for index in added_indexes()}
    for table in SHARED_TABLES:
        ours[table]["indexes"] = [i for i in ours[table]["indexes"] if i[0] not in added]

    assert _prisma_structure(scratch_database_url) == ours


def test_0012_moves_the_generation_fields_beside_the_post_and_back(scratch_database_url):
    app = _app(scratch_database_url)
    engine = engine_for(scratch_database_url)
    with app.app_context():
        upgrade(revision="0011_backoffice_schema")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('u1', 'a@x.org', now())"
            )
            connection.exec_driver_sql(
                'INSERT INTO "BlogPost" (id, user_id, title, content, original_text, '
                "character_count, updated_at, meta_description, keywords, image_alt) VALUES "
                "('p1', 'u1', 'T', 'C', 'O', 1, now(), 'Meta', '[\"bread\"]', 'Alt'), "
                "('p2', 'u1', 'T2', 'C', 'O', 1, now(), NULL, NULL, NULL)"
            )
        upgrade()
        with engine.connect() as connection:
            moved = connection.exec_driver_sql(
                "SELECT post_id, meta_description, keywords, image_alt FROM backoffice.bo_post_seo"
            ).all()
        assert moved == [("p1", "Meta", ["bread"], "Alt")]
        columns = {c["name"] for c in sa.inspect(engine).get_columns("BlogPost")}
        assert "meta_description" not in columns
        downgrade(revision="0011_backoffice_schema")
        with engine.connect() as connection:
            back = connection.exec_driver_sql(
                'SELECT id, meta_description, keywords, image_alt FROM "BlogPost" ORDER BY id'
            ).all()
        assert back == [("p1", "Meta", ["bread"], "Alt"), ("p2", None, None, None)]
        db.engine.dispose()
    engine.dispose()
