"""Database commands: ``flask reset-db`` and ``flask db-adopt``, beside Flask-Migrate's
``flask db ...``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import stamp, upgrade

from dashboard.cli import check_connection
from dashboard.database import backoffice_schema, describe_url, drop_everything
from dashboard.extensions import db

FIRST_REVISION = "0001_prisma_schema"


def register(app: Flask) -> None:
    app.cli.add_command(reset_db)
    app.cli.add_command(db_adopt)


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
    check_connection()
    if not yes:
        click.confirm(f"This deletes ALL data in {url}. Continue?", abort=True)
    db.session.remove()  # an open transaction of ours would block DROP TABLE
    drop_everything(db.engine)
    upgrade()
    click.echo(f"Database {url} reset to an empty schema at the latest revision.")


@click.command("db-adopt")
@with_appcontext
def db_adopt() -> None:
    """Adopt a database the seed application created: check that its tables are exactly
    the Prisma schema, then mark it as being at the first migration so that
    ``flask db upgrade`` adds only Backoffice's own tables."""
    from dashboard.schema_check import schema_differences

    check_connection()
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
