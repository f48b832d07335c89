"""``flask backup create | verify | restore``: the doors to dashboard.ops.backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR, refusals_as_one_line
from dashboard.ops.backup import (
    CheckReport,
    backup_create,
    backup_prune,
    backup_restore,
    backup_verify,
)

backup = AppGroup("backup", help="Database backups that are proven to restore.")


def register(app: Flask) -> None:
    app.cli.add_command(backup)


def _settings() -> dict[str, Any]:
    config = current_app.config
    return {"database_url": config["SQLALCHEMY_DATABASE_URI"], "bin_dir": config.get("PG_BIN_DIR")}


def _megabytes(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:,.1f} MB"


def _print_report(report: CheckReport) -> None:
    width = max((len(name) for name in report.manifest.tables), default=5)
    for name, expected in sorted(report.manifest.tables.items()):
        actual = report.counts.get(name)
        mark = "ok" if actual == expected else "MISMATCH"
        shown = "missing" if actual is None else f"{actual:,}"
        click.echo(f"  {name:<{width}}  {expected:>12,}  {shown:>12}  {mark}")
    for note in report.notes:
        click.echo(note)


def _verify(archive: Path, jobs: int) -> None:
    report = backup_verify(archive=archive, jobs=jobs, progress=click.echo, **_settings())
    _print_report(report)
    if not report.ok:
        raise click.ClickException(f"{archive.name} did NOT verify: " + "; ".join(report.problems))
    click.echo(
        f"Verified {archive.name}: checksum ok, restored {sum(report.counts.values()):,} rows "
        f"in {len(report.counts)} tables matching the manifest, in {report.seconds:.1f}s."
    )


@backup.command("create")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the backup (default: BACKUP_DIR, else instance/backups).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Afterwards, delete the oldest backups of this database beyond the newest N.",
)
@click.option(
    "--verify",
    "verify_after",
    is_flag=True,
    help="Also restore the new backup into a scratch database and check it (before pruning).",
)
@click.option("--jobs", type=click.IntRange(1, 16), default=1, help="Parallel jobs for --verify.")
@refusals_as_one_line
def create(directory: Path | None, keep: int | None, verify_after: bool, jobs: int) -> None:
    """Back up the database: an archive and its manifest, never a half-written file."""
    settings = _settings()
    folder = directory or Path(
        current_app.config.get("BACKUP_DIR") or Path(current_app.instance_path) / "backups"
    )
    archive, manifest = backup_create(directory=folder, progress=click.echo, **settings)
    click.echo(
        f"Backup written: {archive} ({_megabytes(manifest.archive_bytes)}; "
        f"{manifest.total_rows:,} rows in {len(manifest.tables)} tables; revision "
        f"{manifest.revision}; sha256 {manifest.sha256[:16]}…) in {manifest.duration_seconds:.1f}s"
    )
    if verify_after:
        _verify(archive, jobs)
    if keep:
        for path in backup_prune(directory=folder, keep=keep, database=manifest.database):
            click.echo(f"Pruned {path.name}")


@backup.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--jobs", type=click.IntRange(1, 16), default=1, help="Parallel restore jobs.")
@refusals_as_one_line
def verify(file: Path, jobs: int) -> None:
    """Prove FILE restores: checksum, then a restore into a scratch database whose row
    counts must match the manifest. The scratch database is dropped afterwards."""
    _verify(file, jobs)


def _confirm(name: str) -> bool:
    click.echo(f"The database {name} has tables. Everything in it will be replaced by the backup.")
    try:
        answer = click.prompt(
            f"Type the database name ({name}) to continue", default="", show_default=False
        )
    except click.Abort:
        return False
    return answer.strip() == name


@backup.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into_url",
    required=True,
    envvar="RESTORE_INTO_URL",
    help="URL of the database to restore into (or RESTORE_INTO_URL, to keep a password "
    "off the command line).",
)
@click.option("--force", is_flag=True, help="Replace a database that has tables (asks first).")
@click.option(
    "--i-know-this-is-the-live-database",
    "live_ok",
    is_flag=True,
    help="Required to restore into the database of DATABASE_URL itself.",
)
@click.option(
    "--keep-owners",
    is_flag=True,
    help="PostgreSQL: restore owners and GRANTs too (the roles must exist on the target).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=1,
    help="PostgreSQL: parallel jobs; faster, but no longer one all-or-nothing transaction.",
)
@refusals_as_one_line
def restore(
    file: Path, into_url: str, force: bool, live_ok: bool, keep_owners: bool, jobs: int
) -> None:
    """Restore FILE into the database at --into, then check its row counts."""
    report = backup_restore(
        archive=file,
        into_url=into_url,
        actor=CLI_ACTOR,
        force=force,
        confirm=_confirm,
        live_database_ok=live_ok,
        keep_owners=keep_owners,
        jobs=jobs,
        progress=click.echo,
        **_settings(),
    )
    _print_report(report)
    click.echo(
        f"Restored {report.manifest.archive} ({report.manifest.total_rows:,} rows, made "
        f"{report.manifest.created_at}) in {report.seconds:.1f}s; row counts match the manifest."
    )
