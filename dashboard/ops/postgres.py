"""PostgreSQL backups with PostgreSQL's own tools: pg_dump's custom format and pg_restore.

The row counts in the manifest are taken inside the very snapshot pg_dump dumps (an
exported snapshot, ``pg_dump --snapshot``), so they match the archive exactly even while the
application keeps writing.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from dashboard.database import drop_everything
from dashboard.ops import BackupError
from dashboard.ops.content import (
    Dumped,
    connect_error,
    first_line,
    make_engine,
    revision_of,
    row_counts,
)

Progress = Callable[[str], None]

ERR_TOOL_MISSING = (
    "{tool} was not found {where}. Install PostgreSQL's client tools, version {major} or "
    "newer (Debian/Ubuntu: apt-get install postgresql-client-{major}), or set PG_BIN_DIR to "
    "the folder that holds them"
)
ERR_TOOL_TOO_OLD = (
    "{tool} is version {tool_major} but the server runs PostgreSQL {major}: {tool} must be at "
    "least as new as the server. Install postgresql-client-{major} and set PG_BIN_DIR to its "
    "folder (e.g. /usr/lib/postgresql/{major}/bin)"
)
ERR_TOOL_VERSION = "cannot tell the version of {path}: it printed {output!r}"
ERR_TOOL_FAILED = "{tool} failed (exit code {code}): {detail}"
ERR_CREATE_DATABASE = (
    "cannot create the scratch database {name} for the check: {problem}. The user in "
    "DATABASE_URL needs the CREATEDB privilege (ALTER ROLE ... CREATEDB)"
)
ERR_NO_REVISION = (
    "the database has no migration revision (no alembic_version table); run `flask db "
    "upgrade` (or `flask db-adopt`) first so that the backup records which schema it holds"
)
DUMP_LINE = re.compile(r'dumping contents of table "(?P<table>[^"]+)"')
RESTORE_LINE = re.compile(r'processing data for table "(?P<table>[^"]+)"')
ERROR_LINE = re.compile(r"error|fatal|detail|hint|could not|invalid|unsupported", re.I)
HEARTBEAT_SECONDS = 15
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


def tool_path(name: str, bin_dir: str | None, major: int) -> str:
    """The path of PostgreSQL client program ``name`` (from PG_BIN_DIR, else PATH)."""
    if bin_dir:
        candidate = Path(bin_dir) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise BackupError(
            ERR_TOOL_MISSING.format(tool=name, where=f"in PG_BIN_DIR ({bin_dir})", major=major)
        )
    found = shutil.which(name)
    if not found:
        raise BackupError(ERR_TOOL_MISSING.format(tool=name, where="on PATH", major=major))
    return found


def tool_version(path: str) -> tuple[int, str]:
    """(major version, version text) of a PostgreSQL client program."""
    output = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", output)
    if not match:
        raise BackupError(ERR_TOOL_VERSION.format(path=path, output=output[:200]))
    major = int(match[1])
    return major, output


def server_major(connection: sa.Connection) -> int:
    number = int(connection.execute(sa.text("SHOW server_version_num")).scalar_one())
    return number // 10000


def checked_tool(name: str, bin_dir: str | None, connection: sa.Connection) -> tuple[str, str]:
    """(path, version text) of ``name``, refusing a program older than the server: an
    older pg_dump cannot read a newer server's catalogs, an older pg_restore cannot read a
    newer pg_dump's archive."""
    major = server_major(connection)
    path = tool_path(name, bin_dir, major)
    tool_major, text = tool_version(path)
    if tool_major < major:
        raise BackupError(ERR_TOOL_TOO_OLD.format(tool=name, tool_major=tool_major, major=major))
    return path, text


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_arguments(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` and the environment the tool needs. The
    password travels in PGPASSWORD, never on the command line where `ps` would show it."""
    parts: dict[str, object] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        parts[key] = value[-1] if isinstance(value, tuple) else value
    conninfo = " ".join(
        f"{key}={_quote(str(value))}" for key, value in parts.items() if value not in (None, "")
    )
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return conninfo, environment


def run_tool(
    argv: list[str],
    *,
    environment: dict[str, str],
    on_line: Callable[[str], None],
    on_quiet: Callable[[], None],
) -> None:
    """Run a pg_dump/pg_restore command, passing each line of its stderr to ``on_line``
    and calling ``on_quiet`` when it has said nothing for a while (a big table)."""
    tool = Path(argv[0]).name
    process = subprocess.Popen(  # noqa: S603 - argv is built here, never from a shell string
        argv,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    said: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                on_quiet()
                continue
            if line is None:
                break
            said.append(line)
            on_line(line)
        code = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    if code != 0:
        errors = [line for line in said if ERROR_LINE.search(line)] or said[-5:]
        detail = "; ".join(line.removeprefix(f"{tool}: ") for line in errors[-6:])
        raise BackupError(ERR_TOOL_FAILED.format(tool=tool, code=code, detail=detail or "-"))


def _table_reporter(
    pattern: re.Pattern[str], verb: str, total: int, progress: Callable[[str], None]
) -> tuple[Callable[[str], None], Callable[[], None]]:
    """Callbacks that turn the tool's --verbose output into a line per table, and a line
    saying what it is busy with when it has been quiet for a while."""
    state: dict[str, Any] = {"done": 0, "last": "starting", "started": time.monotonic()}

    def on_line(line: str) -> None:
        state["last"] = line.split(": ", 1)[-1]
        match = pattern.search(line)
        if match:
            state["done"] += 1
            progress(f"  [{state['done']}/{max(total, state['done'])}] {verb} {match['table']}")

    def on_quiet() -> None:
        elapsed = time.monotonic() - state["started"]
        progress(f"  ... {elapsed:.0f}s, still {state['last']}")

    return on_line, on_quiet


def dump(*, url: URL, destination: Path, bin_dir: str | None, progress: Progress) -> Dumped:
    """Write a custom-format archive of the database at ``url`` to ``destination``."""
    engine = make_engine(url)
    try:
        with engine.connect() as raw:
            connection = raw.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with connection.begin():
                connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
                tool, tool_text = checked_tool("pg_dump", bin_dir, connection)
                snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                revision = revision_of(connection)
                if revision is None:
                    raise BackupError(ERR_NO_REVISION)
                tables = row_counts(connection)
                info = connection.execute(
                    sa.text(
                        "SELECT current_database(), pg_database_size(current_database()), "
                        "current_setting('server_version')"
                    )
                ).one()
                progress(
                    f"Dumping PostgreSQL database {info[0]} ({info[1] / 1e6:,.1f} MB, "
                    f"{len(tables)} tables, {sum(tables.values()):,} rows) at revision "
                    f"{revision} with {tool_text}"
                )
                conninfo, environment = libpq_arguments(url)
                on_line, on_quiet = _table_reporter(DUMP_LINE, "dumping", len(tables), progress)
                # The transaction stays open while pg_dump runs: that keeps the snapshot alive.
                run_tool(
                    [
                        tool,
                        "--format=custom",
                        "--verbose",
                        f"--snapshot={snapshot}",
                        f"--file={destination}",
                        f"--dbname={conninfo}",
                    ],
                    environment=environment,
                    on_line=on_line,
                    on_quiet=on_quiet,
                )
    except sa.exc.OperationalError as exc:
        raise connect_error(url, exc) from None
    finally:
        engine.dispose()
    return Dumped(
        tables=tables,
        revision=revision,
        database=info[0],
        database_bytes=int(info[1]),
        server_version=info[2],
        tool=tool_text,
    )


def restore(
    *,
    archive: Path,
    url: URL,
    bin_dir: str | None,
    replace: bool,
    jobs: int,
    keep_owners: bool,
    total_tables: int,
    progress: Progress,
) -> None:
    """Restore ``archive`` into the database at ``url``.

    With ``replace`` the target is emptied first. With one job the restore itself is a
    single transaction: it happens completely or not at all.
    Owners and privileges are only restored with ``keep_owners`` (the roles must exist).
    """
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tool, tool_text = checked_tool("pg_restore", bin_dir, connection)
    except sa.exc.OperationalError as exc:
        raise connect_error(url, exc) from None
    finally:
        engine.dispose()
    if replace:
        progress("Emptying the target: dropping its tables, types and functions")
        _empty(url)
    conninfo, environment = libpq_arguments(url)
    argv = [tool, "--verbose", "--exit-on-error", f"--dbname={conninfo}"]
    if not keep_owners:
        argv += ["--no-owner", "--no-privileges"]
    if replace:
        argv += ["--clean", "--if-exists"]
    argv += [f"--jobs={jobs}"] if jobs > 1 else ["--single-transaction"]
    progress(f"Restoring with {tool_text}" + (f", {jobs} jobs" if jobs > 1 else ""))
    on_line, on_quiet = _table_reporter(RESTORE_LINE, "restoring", total_tables, progress)
    run_tool([*argv, str(archive)], environment=environment, on_line=on_line, on_quiet=on_quiet)


def _empty(url: URL) -> None:
    """Drop everything the schema holds, in one transaction, so that tables the backup does
    not have (from a later migration) do not survive the restore."""
    engine = make_engine(url)
    try:
        drop_everything(engine)
    except sa.exc.DBAPIError as exc:
        raise BackupError(f"cannot empty the target: {first_line(exc)}") from None
    finally:
        engine.dispose()


def table_count(url: URL) -> int:
    """How many tables the database at ``url`` has, in any schema of its own."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            ).scalar_one()
    except sa.exc.OperationalError as exc:
        raise connect_error(url, exc) from None
    finally:
        engine.dispose()


def count_rows(url: URL) -> tuple[dict[str, int], str | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
            return row_counts(connection), revision_of(connection)
    finally:
        engine.dispose()


def _quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_scratch_database(server: URL, purpose: str) -> URL:
    """A new empty database on the server of ``server``, named after its database."""
    name = f"{(server.database or 'backoffice')[:40]}_{purpose}_{secrets.token_hex(4)}"
    engine = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {_quoted_name(name)} TEMPLATE template0"))
    except sa.exc.DBAPIError as exc:
        raise BackupError(ERR_CREATE_DATABASE.format(name=name, problem=first_line(exc))) from None
    finally:
        engine.dispose()
    return server.set(database=name)


def drop_database(database: URL, server: URL) -> None:
    """Drop ``database``, disconnecting whoever is still on it, through ``server``."""
    engine = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            force = " WITH (FORCE)" if server_major(connection) >= 13 else ""
            connection.execute(
                sa.text(f"DROP DATABASE IF EXISTS {_quoted_name(database.database)}{force}")
            )
    finally:
        engine.dispose()


def _normal(url: URL) -> tuple[str, int, str]:
    host = "local" if (url.host in LOCAL_HOSTS or str(url.host).startswith("/")) else url.host
    return (str(host).lower(), url.port or 5432, url.database or url.username or "")


def identity(url: URL) -> tuple[str, str] | None:
    """(cluster, database) for ``url`` as the server itself reports them, or None if it
    cannot be asked."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
            try:
                with connection.begin_nested():
                    cluster = connection.execute(
                        sa.text("SELECT system_identifier::text FROM pg_control_system()")
                    ).scalar_one()
            except sa.exc.DBAPIError:
                host, port, _name = _normal(url)
                cluster = f"{host}:{port}"
            return cluster, database
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()


def same_database(first: URL, second: URL) -> bool:
    """Whether two URLs reach the same database: by host, port and name, or failing that
    by asking the server (another host name or address for the same server)."""
    if _normal(first) == _normal(second):
        return True
    one, other = identity(first), identity(second)
    return one is not None and one == other
