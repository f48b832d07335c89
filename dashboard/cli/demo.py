"""``flask seed-demo``: the door to the demo data of ``dashboard.demo``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from dashboard.cli import check_connection
from dashboard.extensions import db


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo)


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

    check_connection()
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
