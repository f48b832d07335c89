"""Backups that are proven to restore.

- ``backup_create``: an archive (pg_dump custom format, or SQLite's online backup) and its
  manifest: revision, row count per table, sizes, SHA-256.
- ``backup_verify``: the checksum, then a real restore into a scratch database whose row
  counts must equal the manifest's; the scratch database is dropped afterwards.
- ``backup_restore``: into an empty database, or, with confirmation, over a full one; never
  over the live database by accident, never a backup made by newer code.
- ``backup_prune``: keep the newest N complete backups of a database.

Every failure raises ``BackupError`` with a message for the person on call.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from dashboard.core.actor import Actor
from dashboard.database import describe_url
from dashboard.ops import BackupError, postgres, sqlite
from dashboard.ops.archive import (
    EXTENSIONS,
    Manifest,
    archive_name,
    check_archive,
    commit_file,
    ensure_directory,
    list_backups,
    load_backup,
    removed_on_failure,
    safe_part,
    sha256_of,
    temporary_path,
    write_manifest,
)
from dashboard.ops.content import compare_counts

Progress = Callable[[str], None]
Confirm = Callable[[str], bool]

ERR_BACKEND = (
    "the backup is a {archive} archive but {url} is a {target} database: restore a PostgreSQL "
    "backup into PostgreSQL and a SQLite backup into SQLite"
)
ERR_UNSUPPORTED = "backups support postgresql and sqlite databases, not {backend}"
ERR_EXISTS = "{path} already exists; not overwritten"
ERR_LIVE = (
    "refusing to restore into {url}: it is the database this Backoffice runs on (DATABASE_URL). "
    "To replace the live data, stop the web and worker processes first and pass "
    "--i-know-this-is-the-live-database"
)
ERR_NOT_EMPTY = (
    "refusing to restore into {url}: it already has {count} tables. Restore into a new, empty "
    "database, or pass --force to replace everything in it (you will be asked to confirm)"
)
ERR_NOT_CONFIRMED = "not confirmed: {url} was left as it was"
ERR_NEWER = (
    "the backup is at migration revision {revision}, which this version of Backoffice does "
    "not know: it was made by newer code. Restore it with the Backoffice version that made "
    "it, or a newer one"
)
ERR_VERIFY_SERVER = (
    "verifying a PostgreSQL backup restores it into a scratch database on the PostgreSQL "
    "server of DATABASE_URL, but DATABASE_URL is {url}"
)
ERR_RESTORE_FAILED = "the restore into {url} failed, {state}: {problem}"
ERR_MISMATCH = "the restored database does not match the manifest: {problems}"


def _quiet(_message: str) -> None:
    return None


@dataclass
class CheckReport:
    """What a verify or restore found: the archive, its manifest, the counts read back from
    the restored database, and any problem (an empty list means all matched)."""

    archive: Path
    manifest: Manifest
    counts: dict[str, int] = field(default_factory=dict)
    revision: str | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in EXTENSIONS:
        raise BackupError(ERR_UNSUPPORTED.format(backend=backend))
    return backend


def backup_create(
    *,
    database_url: str,
    directory: Path,
    bin_dir: str | None = None,
    progress: Progress = _quiet,
    now: datetime | None = None,
) -> tuple[Path, Manifest]:
    """Back up the database at ``database_url`` into ``directory``; return the archive's
    path and its manifest. Nothing is left in ``directory`` if anything fails.

    Raises BackupError when the tools are missing or too old, the database is unreachable
    or has no migration revision, or the folder cannot be written.
    """
    url = make_url(database_url)
    backend = _backend(url)
    ensure_directory(directory)
    created = now or datetime.now(UTC)
    started = time.monotonic()
    temporary = temporary_path(directory / f"backoffice{EXTENSIONS[backend]}")
    with removed_on_failure(temporary):
        if backend == "postgresql":
            dumped = postgres.dump(
                url=url, destination=temporary, bin_dir=bin_dir, progress=progress
            )
        else:
            dumped = sqlite.dump(url=url, destination=temporary, progress=progress)
        final = directory / archive_name(
            backend=backend, database=dumped.database, revision=dumped.revision, created_at=created
        )
        if final.exists():
            raise BackupError(ERR_EXISTS.format(path=final))
        progress("Computing the SHA-256 checksum")
        manifest = Manifest(
            backend=backend,
            archive=final.name,
            created_at=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            revision=dumped.revision,
            database=dumped.database,
            tables=dumped.tables,
            archive_bytes=temporary.stat().st_size,
            sha256=sha256_of(temporary),
            database_bytes=dumped.database_bytes,
            server_version=dumped.server_version,
            tool=dumped.tool,
            duration_seconds=round(time.monotonic() - started, 3),
        )
        commit_file(temporary, final)
    with removed_on_failure(final):
        write_manifest(final, manifest)
    return final, manifest


def backup_verify(
    *,
    archive: Path,
    database_url: str,
    bin_dir: str | None = None,
    jobs: int = 1,
    progress: Progress = _quiet,
) -> CheckReport:
    """Check ``archive`` (or its manifest's path) by restoring it into a scratch database
    and comparing the row counts with the manifest; the scratch database is always removed.
    A PostgreSQL archive is restored on the server of ``database_url``.

    Raises BackupError when the manifest is missing, the checksum or size differs (a
    corrupted archive), or the archive cannot be restored. Mismatching counts are returned
    as ``problems``.
    """
    started = time.monotonic()
    archive, manifest = load_backup(archive)
    progress(f"Checking the SHA-256 checksum of {archive.name}")
    check_archive(archive, manifest)
    report = CheckReport(archive=archive, manifest=manifest)
    if manifest.backend == "postgresql":
        server = make_url(database_url)
        if server.get_backend_name() != "postgresql":
            raise BackupError(ERR_VERIFY_SERVER.format(url=describe_url(server)))
        scratch = postgres.create_scratch_database(server, "verify")
        progress(f"Restoring into the scratch database {scratch.database}")
        try:
            postgres.restore(
                archive=archive,
                url=scratch,
                bin_dir=bin_dir,
                replace=False,
                jobs=jobs,
                keep_owners=False,
                total_tables=len(manifest.tables),
                progress=progress,
            )
            report.counts, report.revision = postgres.count_rows(scratch)
        finally:
            postgres.drop_database(scratch, server)
            progress(f"Dropped the scratch database {scratch.database}")
    else:
        with tempfile.TemporaryDirectory(prefix="backoffice-verify-") as folder:
            copy = Path(folder) / "verify.sqlite3"
            progress(f"Restoring into the scratch file {copy}")
            sqlite.restore(archive=archive, url=make_url(f"sqlite:///{copy}"), progress=progress)
            problem = sqlite.integrity_problem(copy)
            report.problems += [problem] if problem else []
            report.counts, report.revision = sqlite.counts_at(copy)
    report.problems += _differences(manifest, report)
    report.seconds = time.monotonic() - started
    return report


def _differences(manifest: Manifest, report: CheckReport) -> list[str]:
    problems = compare_counts(manifest.tables, report.counts)
    if report.revision != manifest.revision:
        problems.append(
            f"the restored revision is {report.revision}, the manifest says {manifest.revision}"
        )
    return problems


def known_revisions() -> tuple[set[str], list[str]]:
    """(every revision the code's migrations know, their heads)."""
    from dashboard import MIGRATIONS_DIR

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return {script.revision for script in scripts.walk_revisions()}, list(scripts.get_heads())


def _check_revision(manifest: Manifest) -> str | None:
    """Refuse a backup from newer code; return a note when the target will need
    ``flask db upgrade`` afterwards."""
    known, heads = known_revisions()
    revisions = manifest.revision.split("+")
    if any(revision not in known for revision in revisions):
        raise BackupError(ERR_NEWER.format(revision=manifest.revision))
    if sorted(revisions) != sorted(heads):
        return (
            f"The backup is at revision {manifest.revision}, older than this code "
            f"({'+'.join(heads)}): run `flask db upgrade` against the restored database."
        )
    return None


def _is_live(target: URL, live: URL) -> bool:
    if target.get_backend_name() != live.get_backend_name():
        return False
    if target.get_backend_name() == "sqlite":
        return sqlite.same_database(target, live)
    return postgres.same_database(target, live)


def _target_name(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return sqlite.database_path(url).name
    return url.database or ""


def backup_restore(
    *,
    archive: Path,
    into_url: str,
    database_url: str,
    actor: Actor,
    force: bool = False,
    confirm: Confirm | None = None,
    live_database_ok: bool = False,
    keep_owners: bool = False,
    jobs: int = 1,
    bin_dir: str | None = None,
    progress: Progress = _quiet,
) -> CheckReport:
    """Restore ``archive`` into the database at ``into_url`` and check its row counts.

    Rules: the archive's checksum must match; its revision must be known to this code
    (unknown means newer code made it); a target with tables is replaced only with
    ``force`` and when ``confirm(target database name)`` returns True; the live database
    (``database_url``) only with ``live_database_ok`` too. A restore into the live database
    is written to its audit trail (``backup.restore``).

    Raises BackupError for each refusal (nothing is changed then) and when the restore fails.
    """
    from dashboard.database import resolve_database_url

    started = time.monotonic()
    archive, manifest = load_backup(archive)
    target = resolve_database_url(into_url, tempfile.gettempdir())
    shown = describe_url(target)
    backend = _backend(target)
    if backend != manifest.backend:
        raise BackupError(ERR_BACKEND.format(archive=manifest.backend, url=shown, target=backend))
    live = _is_live(target, make_url(database_url))
    if live and not live_database_ok:
        raise BackupError(ERR_LIVE.format(url=shown))
    note = _check_revision(manifest)
    progress(f"Checking the SHA-256 checksum of {archive.name}")
    check_archive(archive, manifest)
    tables = (postgres.table_count if backend == "postgresql" else sqlite.table_count)(target)
    if tables and not force:
        raise BackupError(ERR_NOT_EMPTY.format(url=shown, count=tables))
    if tables and not (confirm and confirm(_target_name(target))):
        raise BackupError(ERR_NOT_CONFIRMED.format(url=shown))
    if live:
        _release_live_connections()
    progress(f"Restoring {archive.name} into {shown}")
    report = CheckReport(archive=archive, manifest=manifest, notes=[note] if note else [])
    try:
        report.counts, report.revision = _restore_into(
            archive,
            manifest,
            target,
            replace=bool(tables),
            keep_owners=keep_owners,
            jobs=jobs,
            bin_dir=bin_dir,
            progress=progress,
        )
    except BackupError as exc:
        state = _state_after_failure(backend, replaced=bool(tables), jobs=jobs)
        raise BackupError(
            ERR_RESTORE_FAILED.format(url=shown, state=state, problem=exc.message)
        ) from None
    report.problems = _differences(manifest, report)
    if report.problems:
        raise BackupError(ERR_MISMATCH.format(problems="; ".join(report.problems)))
    if live:
        report.notes.append(_audit_restore(actor, manifest, target))
    report.seconds = time.monotonic() - started
    return report


def _state_after_failure(backend: str, *, replaced: bool, jobs: int) -> str:
    if backend == "sqlite":
        return "and the target was left as it was"
    if jobs > 1:
        return "and the target may be partly restored: empty it, then restore again"
    if replaced:
        return "after the target had been emptied: it is empty now; restore again"
    return "and nothing was restored (the restore is one transaction)"


def _restore_into(
    archive: Path,
    manifest: Manifest,
    target: URL,
    *,
    replace: bool,
    keep_owners: bool,
    jobs: int,
    bin_dir: str | None,
    progress: Progress,
) -> tuple[dict[str, int], str | None]:
    if manifest.backend == "sqlite":
        sqlite.restore(archive=archive, url=target, progress=progress)
        return sqlite.counts_at(sqlite.database_path(target))
    postgres.restore(
        archive=archive,
        url=target,
        bin_dir=bin_dir,
        replace=replace,
        jobs=jobs,
        keep_owners=keep_owners,
        total_tables=len(manifest.tables),
        progress=progress,
    )
    return postgres.count_rows(target)


def _release_live_connections() -> None:
    """Close this process's own connections to the live database; an open one would hold
    locks that the restore waits for."""
    from dashboard.extensions import db

    db.session.remove()
    db.engine.dispose()


def _audit_restore(actor: Actor, manifest: Manifest, target: URL) -> str:
    import sqlalchemy as sa

    from dashboard.extensions import db
    from dashboard.services.audit import audit_record

    db.engine.dispose()  # the tables were replaced: start from fresh connections
    from dashboard.database import backoffice_schema

    if not sa.inspect(db.engine).has_table("bo_audit_log", schema=backoffice_schema(db.engine)):
        return "Not audited: the restored revision predates Backoffice's audit trail."
    audit_record(
        actor=actor,
        action="backup.restore",
        target_model="database",
        target_id=_target_name(target),
        details={
            "archive": manifest.archive,
            "sha256": manifest.sha256,
            "revision": manifest.revision,
            "backup_created_at": manifest.created_at,
            "rows": manifest.total_rows,
        },
    )
    db.session.commit()
    return "Recorded in the audit trail as backup.restore."


def backup_prune(*, directory: Path, keep: int, database: str) -> list[Path]:
    """Delete the oldest backups of ``database`` in ``directory`` so that the newest
    ``keep`` complete ones remain; incomplete leftovers older than those go too. Returns
    the deleted files."""
    backups = [b for b in list_backups(directory) if b.database == safe_part(database)]
    if keep < 1:
        raise BackupError("--keep must be at least 1: pruning never deletes every backup")
    complete = [b for b in backups if b.complete]
    if len(complete) <= keep:
        return []
    oldest_kept = complete[-keep]
    deleted = []
    for backup in backups:
        if backup == oldest_kept:
            break
        for path in (backup.manifest, backup.archive):  # manifest first: then it is incomplete
            if path is not None:
                path.unlink(missing_ok=True)
                deleted.append(path)
    return deleted
