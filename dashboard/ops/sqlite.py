"""SQLite backups with SQLite's online backup API: a consistent copy of a database that is
in use, page by page, without stopping the application."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from dashboard.ops import BackupError
from dashboard.ops.content import Dumped, make_engine, revision_of, row_counts

Progress = Callable[[str], None]

ERR_NO_FILE = "there is no SQLite database at {path}"
ERR_IN_MEMORY = "an in-memory SQLite database cannot be backed up or restored into"
ERR_NO_REVISION = (
    "the database has no migration revision (no alembic_version table); run `flask db "
    "upgrade` first so that the backup records which schema it holds"
)
ERR_INTEGRITY = "the restored copy fails SQLite's integrity check: {result}"
PAGES_PER_STEP = 1024


def database_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        raise BackupError(ERR_IN_MEMORY)
    return Path(url.database).resolve()


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress) -> None:
    reported = {"tenth": -1}

    def step(_status: int, remaining: int, total: int) -> None:
        tenth = (total - remaining) * 10 // max(total, 1)
        if tenth != reported["tenth"] and total > PAGES_PER_STEP:
            reported["tenth"] = tenth
            progress(f"  copied {total - remaining:,} of {total:,} pages")

    source.backup(target, pages=PAGES_PER_STEP, progress=step)


def counts_at(path: Path) -> tuple[dict[str, int], str | None]:
    engine = make_engine(make_url(f"sqlite:///{path}"))
    try:
        with engine.connect() as connection:
            return row_counts(connection), revision_of(connection)
    finally:
        engine.dispose()


def dump(*, url: URL, destination: Path, progress: Progress) -> Dumped:
    """Copy the database at ``url`` into the new file ``destination``."""
    source_path = database_path(url)
    if not source_path.is_file():
        raise BackupError(ERR_NO_FILE.format(path=source_path))
    progress(f"Copying SQLite database {source_path} ({source_path.stat().st_size / 1e6:,.1f} MB)")
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(destination)
    try:
        _copy(source, target, progress)
        # The archive is one self-contained file, whatever journal mode the live one uses.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    # Counted on the copy itself: exactly what the archive holds.
    tables, revision = counts_at(destination)
    if revision is None:
        raise BackupError(ERR_NO_REVISION)
    return Dumped(
        tables=tables,
        revision=revision,
        database=source_path.stem,
        database_bytes=source_path.stat().st_size,
        server_version=f"SQLite {sqlite3.sqlite_version}",
        tool="sqlite3 online backup API",
    )


def restore(*, archive: Path, url: URL, progress: Progress) -> None:
    """Replace the whole content of the database at ``url`` with ``archive``'s."""
    target_path = database_path(url)
    if not target_path.parent.is_dir():
        raise BackupError(f"the folder {target_path.parent} does not exist")
    source = sqlite3.connect(f"{archive.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=30)
    try:
        _copy(source, target, progress)
    finally:
        target.close()
        source.close()


def integrity_problem(path: Path) -> str | None:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        result = str(exc)
    finally:
        connection.close()
    return None if result == "ok" else ERR_INTEGRITY.format(result=result)


def table_count(url: URL) -> int:
    path = database_path(url)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
    finally:
        connection.close()


def same_database(first: URL, second: URL) -> bool:
    try:
        return database_path(first) == database_path(second)
    except BackupError:
        return False
