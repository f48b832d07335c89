"""Writing demo rows in bulk: PostgreSQL's COPY (executemany elsewhere), with the tables'
non-unique indexes dropped for the load and rebuilt after it, in the caller's transaction."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.database import backoffice_schema
from dashboard.demo.generator import DemoGenerator
from dashboard.demo.rows import Table


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict):
        value = json.dumps(value)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _write_postgresql(connection: sa.Connection, table: Table) -> None:
    buffer = io.StringIO()
    buffer.writelines("\t".join(_copy_value(value) for value in row) + "\n" for row in table.rows)
    buffer.seek(0)
    columns = ", ".join(f'"{column}"' for column in table.columns)
    cursor = connection.connection.driver_connection.cursor()
    cursor.copy_expert(f'COPY "{table.name}" ({columns}) FROM STDIN', buffer)
    cursor.close()


def _write_generic(connection: sa.Connection, table: Table) -> None:
    reflected = sa.table(table.name, *(sa.column(column) for column in table.columns))
    rows = [
        {
            column: (json.dumps(value) if isinstance(value, dict) else value)
            for column, value in zip(table.columns, row, strict=True)
        }
        for row in table.rows
    ]
    connection.execute(sa.insert(reflected), rows)


ERR_TABLES_BUSY = (
    "another connection is using the tables (a running Backoffice or seed application?); "
    "stop it and run seed-demo again"
)


LOCK_TIMEOUT_MS = 15000


class DemoLoadBlocked(RuntimeError):
    """The tables are in use elsewhere; nothing was written."""


LOADED_TABLES = (
    "StripeProduct",
    "StripePrice",
    "User",
    "bo_token_ledger",
    "Account",
    "Session",
    "VerificationToken",
    "StripeCustomer",
    "UserSubscription",
    "PaymentHistory",
    "BlogPost",
)


@contextmanager
def secondary_indexes_deferred(
    connection: sa.Connection, tables: Sequence[str], progress: Callable[[str], None]
) -> Iterator[None]:
    """On PostgreSQL, drop the tables' non-unique indexes for a bulk load and build them again
    afterwards, in the caller's transaction: one sorted build per index is several times
    cheaper than maintaining it row by row (pg_restore does the same). Primary keys and
    unique indexes stay, so the load is checked as it goes."""
    if connection.dialect.name != "postgresql":
        yield
        return
    definitions = connection.execute(
        sa.text(
            "SELECT ci.relname, pg_get_indexdef(ix.indexrelid) FROM pg_index ix "
            "JOIN pg_class ci ON ci.oid = ix.indexrelid "
            "JOIN pg_class ct ON ct.oid = ix.indrelid "
            "JOIN pg_namespace n ON n.oid = ct.relnamespace "
            "WHERE n.nspname = ANY(current_schemas(false)) AND ct.relname = ANY(:tables) "
            "AND NOT ix.indisunique AND NOT ix.indisprimary ORDER BY ci.relname"
        ),
        {"tables": list(tables)},
    ).all()
    # Fail with a message rather than wait behind another connection (a running server)
    # that reads these tables.
    connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
    try:
        for name, _definition in definitions:
            connection.execute(sa.text(f'DROP INDEX "{name}"'))
    except sa.exc.OperationalError as exc:
        raise DemoLoadBlocked(ERR_TABLES_BUSY) from exc
    connection.execute(sa.text("SET LOCAL lock_timeout = 0"))
    yield
    started = time.monotonic()
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _name, definition in definitions:
        connection.execute(sa.text(definition))
    progress(f"  rebuilt {len(definitions)} indexes ({time.monotonic() - started:.0f}s)")


def load_demo_data(
    connection: sa.Connection,
    *,
    users: int,
    seed: int,
    as_of: datetime,
    progress: Callable[[str], None] = lambda _message: None,
    chunk_size: int = 20000,
) -> dict[str, int]:
    """Write demo rows through ``connection`` (the caller commits) and return row counts."""
    write = _write_postgresql if connection.dialect.name == "postgresql" else _write_generic
    own_schema = backoffice_schema(connection)
    if own_schema is not None:
        # COPY and the index statements name tables plainly: the ledger is in Backoffice's
        # schema, the rest in the seed application's.
        connection.execute(sa.text(f'SET LOCAL search_path TO public, "{own_schema}"'))
    generator = DemoGenerator(users=users, seed=seed, as_of=as_of)
    counts: dict[str, int] = {}
    started = time.monotonic()
    for table in generator.catalogue():
        write(connection, table)
        counts[table.name] = counts.get(table.name, 0) + len(table.rows)
    done = 0
    with secondary_indexes_deferred(connection, LOADED_TABLES, progress):
        for chunk in generator.chunks(chunk_size):
            for table in chunk:
                if table.rows:
                    write(connection, table)
                    counts[table.name] = counts.get(table.name, 0) + len(table.rows)
            done += len(chunk[0].rows)
            elapsed = time.monotonic() - started
            progress(
                f"  {done:,}/{users:,} users, {counts.get('PaymentHistory', 0):,} payments "
                f"({elapsed:.0f}s)"
            )
    return counts
