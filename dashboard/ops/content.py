"""What a database holds, as a backup records it: its tables' row counts and its revision."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from dashboard.database import backoffice_schema, describe_url
from dashboard.models.base import BO_SCHEMA
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


def make_engine(url: URL, schema: str = BO_SCHEMA) -> sa.Engine:
    """A connection source for one backup step: no pool, so nothing stays connected to a
    database that is about to be dropped or replaced. ``schema`` is where Backoffice's own
    tables are (BACKOFFICE_DB_SCHEMA)."""
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")  # the driver Backoffice ships with
    postgresql = url.get_backend_name() == "postgresql"
    connect_args = {"connect_timeout": 10} if postgresql else {}
    translate = {BO_SCHEMA: schema if postgresql else None}
    return sa.create_engine(
        url,
        poolclass=NullPool,
        connect_args=connect_args,
        execution_options={"schema_translate_map": translate},
    )


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def connect_error(url: URL, exc: BaseException) -> BackupError:
    return BackupError(ERR_CONNECT.format(url=describe_url(url), problem=first_line(exc)))


def _schemas(connection: sa.Connection) -> list[str | None]:
    """The default schema (the seed application's tables) and Backoffice's own."""
    own = backoffice_schema(connection)
    return [None] if own is None else [None, own]


def row_counts(connection: sa.Connection) -> dict[str, int]:
    """Exact row count of every table in the default schema and in Backoffice's schema, by
    name (Backoffice's own tables are all named bo_*, so the names never collide)."""
    inspector = sa.inspect(connection)
    counts = {}
    for schema in _schemas(connection):
        for name in sorted(inspector.get_table_names(schema=schema)):
            table = sa.table(name, schema=schema)
            counts[name] = connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
    return dict(sorted(counts.items()))


def revision_of(connection: sa.Connection) -> str | None:
    """The Alembic revision the database is at ("a+b" with several heads), or None. The
    version table is in Backoffice's schema, or in the default one on databases migrated
    before Backoffice had a schema of its own."""
    inspector = sa.inspect(connection)
    for schema in reversed(_schemas(connection)):
        if inspector.has_table("alembic_version", schema=schema):
            table = sa.table("alembic_version", sa.column("version_num"), schema=schema)
            rows = connection.execute(sa.select(table.c.version_num)).scalars()
            return "+".join(sorted(rows)) or None
    return None


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
