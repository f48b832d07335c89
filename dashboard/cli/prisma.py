"""``flask prisma additions --out DIR [--schema FILE]`` (also ``flask prisma-additions``): the
door to dashboard.ops.prisma, for the seed application's team (README, "Adopting the seed
application's database")."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from dashboard.core import clock
from dashboard.ops.prisma import (
    PrismaSchemaError,
    prisma_additions,
    schema_with_additions,
    write_migration,
)

# The seed application's schema as this repository ships it.
SEED_SCHEMA = Path(__file__).resolve().parents[1] / "prisma" / "schema.prisma"

prisma = AppGroup("prisma", help="What the seed application's Prisma Migrate must know.")


@prisma.command("additions")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The seed repository's prisma/migrations folder.",
)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A schema.prisma to add the @@index lines to, in place (default: only print them).",
)
def additions(out: Path, schema_path: Path | None) -> None:
    """Write the migration creating Backoffice's indexes on the shared tables into OUT and
    print the @@index lines for schema.prisma."""
    source = schema_path or SEED_SCHEMA
    try:
        found = prisma_additions(schema=source.read_text())
    except PrismaSchemaError as exc:
        raise click.ClickException(f"{source}: {exc}") from None
    path = write_migration(additions=found, out=out, now=clock.now())
    click.echo(f"Wrote {path} ({len(found.indexes)} indexes).")
    click.echo("Lines for schema.prisma, inside each model (expression indexes have none):")
    for model, lines in found.schema_lines.items():
        click.echo(f"model {model} {{")
        for line in lines:
            click.echo(f"  {line}")
        click.echo("}")
    if schema_path is not None:
        schema_path.write_text(schema_with_additions(schema_path.read_text(), found))
        click.echo(f"Added them to {schema_path}.")


def register(app: Flask) -> None:
    app.cli.add_command(prisma)
    # The name the README and the seed team's notes use.
    app.cli.add_command(additions, "prisma-additions")
