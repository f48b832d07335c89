"""Command-line tools (``flask <command>``), the Flask form of the seed's npm scripts.

Each module that owns a thing registers its own commands; this module holds the database
commands and the error handling that turns a configuration or connection problem into one
readable line instead of a traceback.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from types import TracebackType

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import stamp, upgrade

from config import ConfigError
from dashboard.database import backoffice_schema, describe_url
from dashboard.extensions import db

FIRST_REVISION = "0001_prisma_schema"


def install_error_handler() -> None:
    """Under the ``flask`` command, print configuration and connection errors as one line."""
    if click.get_current_context(silent=True) is None or getattr(sys, "_backoffice_hook", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, ConfigError):
            print(f"Error: {exc}", file=sys.stderr)
        elif isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            url = (
                describe_url(getattr(current_app, "config", {}).get("SQLALCHEMY_DATABASE_URI", ""))
                if _has_app()
                else "DATABASE_URL"
            )
            first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            print(f"Error: cannot use the database at {url}: {first_line}", file=sys.stderr)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook
    sys._backoffice_hook = True  # type: ignore[attr-defined]


def _has_app() -> bool:
    try:
        current_app._get_current_object()  # noqa: SLF001
    except RuntimeError:
        return False
    return True


def register(app: Flask) -> None:
    app.cli.add_command(reset_db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(db_adopt)


def _check_connection() -> None:
    """Fail early with one line when the database cannot be reached."""
    url = describe_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        first_line = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise click.ClickException(f"cannot reach the database at {url}: {first_line}") from None


def drop_everything(engine: sa.Engine) -> None:
    """Drop every table (and, on PostgreSQL, every enum type) in the database."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Backoffice's own schema, with its tables, functions and migration history;
            # first, since its tables reference the seed application's.
            connection.exec_driver_sql(
                f'DROP SCHEMA IF EXISTS "{backoffice_schema(connection)}" CASCADE'
            )
        metadata.drop_all(bind=connection)
        if connection.dialect.name == "postgresql":
            enum_names = (
                connection.execute(
                    sa.text(
                        "SELECT t.typname FROM pg_type t "
                        "JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                    )
                )
                .scalars()
                .all()
            )
            for name in enum_names:
                connection.execute(sa.text(f'DROP TYPE IF EXISTS "{name}" CASCADE'))
            # Backoffice's trigger functions (all named bo_...).
            functions = (
                connection.execute(
                    sa.text(
                        "SELECT p.oid::regprocedure::text FROM pg_proc p "
                        "JOIN pg_namespace n ON n.oid = p.pronamespace "
                        "WHERE n.nspname = current_schema() AND p.proname LIKE 'bo\\_%'"
                    )
                )
                .scalars()
                .all()
            )
            for signature in functions:
                connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {signature} CASCADE"))


@click.command("reset-db")
@with_appcontext
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--i-know-this-is-production",
    "production_ok",
    is_flag=True,
    help="Required, with --yes, to reset a production database.",
)
def reset_db(yes: bool, production_ok: bool) -> None:
    """Drop every table and recreate the schema from the migrations."""
    url = describe_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if current_app.config["ENV_NAME"] == "production" and not (yes and production_ok):
        raise click.ClickException(
            "refusing to reset a production database; pass --yes and "
            "--i-know-this-is-production if you really mean it"
        )
    _check_connection()
    if not yes:
        click.confirm(f"This deletes ALL data in {url}. Continue?", abort=True)
    db.session.remove()  # an open transaction of ours would block DROP TABLE
    drop_everything(db.engine)
    upgrade()
    click.echo(f"Database {url} reset to an empty schema at the latest revision.")


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--users",
    "user_count",
    type=click.IntRange(1, 10_000_000),
    default=200,
    show_default=True,
    help="How many users to create.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same data.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the data is relative to (default: today, UTC).",
)
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if users exist.")
def seed_demo(user_count: int, seed: int, as_of: datetime | None, if_empty: bool) -> None:
    """Fill an empty database with realistic demo data."""
    from dashboard.demo import DemoLoadBlocked, load_demo_data
    from dashboard.models import User

    _check_connection()
    anchor = as_of or datetime.now(UTC).replace(
        tzinfo=None, hour=0, minute=0, second=0, microsecond=0
    )
    with db.engine.connect() as connection:
        if connection.execute(sa.select(User.id).limit(1)).first() is not None:
            if if_empty:
                click.echo("The database already has users; demo data not added.")
                return
            raise click.ClickException(
                "the database already has users; run `flask reset-db` first to seed from scratch"
            )
    started = time.monotonic()
    click.echo(f"Seeding {user_count:,} users (seed {seed}, as of {anchor:%Y-%m-%d})...")
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Bulk load: no statement timeout, and no waiting for WAL flush per chunk.
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
            connection.execute(sa.text("SET LOCAL synchronous_commit = off"))
        try:
            counts = load_demo_data(
                connection, users=user_count, seed=seed, as_of=anchor, progress=click.echo
            )
        except DemoLoadBlocked as exc:
            raise click.ClickException(str(exc)) from None
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            # Fresh statistics so list pages' row estimates are right at once, and a visibility
            # map so index-only scans (deep pages, dashboard figures) skip the heap; otherwise
            # both wait for autovacuum.
            click.echo("  VACUUM ANALYZE ...")
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("VACUUM ANALYZE")
            )
    summary = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    click.echo(f"Done in {time.monotonic() - started:.1f}s: {summary}")


@click.command("db-adopt")
@with_appcontext
def db_adopt() -> None:
    """Adopt a database the seed application created: check that its tables are exactly
    the Prisma schema, then mark it as being at the first migration so that
    ``flask db upgrade`` adds only Backoffice's own tables."""
    from dashboard.schema_check import schema_differences

    _check_connection()
    with db.engine.connect() as connection:
        inspector = sa.inspect(connection)
        if inspector.has_table("alembic_version", schema=backoffice_schema(connection)):
            raise click.ClickException(
                "this database is already managed by Backoffice's migrations "
                "(alembic_version exists); run `flask db upgrade` instead"
            )
        differences = schema_differences(connection)
    if differences:
        listing = "\n".join(f"  - {line}" for line in differences)
        raise click.ClickException(
            "refusing to adopt: the existing tables differ from the seed application's "
            f"Prisma schema:\n{listing}"
        )
    stamp(revision=FIRST_REVISION)
    click.echo(
        f"Adopted: the database is marked as revision {FIRST_REVISION}. "
        "Now run `flask db upgrade` to add Backoffice's own tables."
    )
