"""What a database holds, as a backup records it: its tables' row counts and its revision."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from dashboard.database import describe_url
from dashboard.ops import BackupError

ERR_CONNECT = "cannot connect to {url}: {problem}"


@dataclass
class Dumped:
    """What a backend reports after writing an archive."""

    tables: dict[str, int]
    revision: str | None
    database: str
    database_bytes: int | None
    server_version: str
    tool: str


def make_engine(url: URL) -> sa.Engine:
    """A connection source for one backup step: no pool, so nothing stays connected to a
    database that is about to be dropped or replaced."""
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")  # the driver Backoffice ships with
    connect_args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def connect_error(url: URL, exc: BaseException) -> BackupError:
    return BackupError(ERR_CONNECT.format(url=describe_url(url), problem=first_line(exc)))


def row_counts(connection: sa.Connection) -> dict[str, int]:
    """Exact row count of every table in the connection's default schema, by name."""
    names = sorted(sa.inspect(connection).get_table_names())
    return {
        name: connection.execute(
            sa.select(sa.func.count()).select_from(sa.table(name))
        ).scalar_one()
        for name in names
    }


def revision_of(connection: sa.Connection) -> str | None:
    """The Alembic revision the database is at ("a+b" with several heads), or None."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
    return "+".join(sorted(rows)) or None


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """One line per table whose rows differ from what the manifest recorded."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"table {name} is missing ({expected[name]:,} rows expected)")
        elif name not in expected:
            problems.append(f"table {name} is not in the manifest ({actual[name]:,} rows)")
        elif expected[name] != actual[name]:
            problems.append(f"table {name} has {actual[name]:,} rows, expected {expected[name]:,}")
    return problems
