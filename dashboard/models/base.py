"""Column types and defaults shared by every model.

The shared tables are owned by the seed application's Prisma schema, so types follow
Prisma's PostgreSQL mapping exactly (see the header of schema.prisma): DateTime is
TIMESTAMP(3) without time zone holding UTC, Json is JSONB. SQLite gets the generic types.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

from dashboard.core.clock import utcnow  # noqa: F401 - re-exported: models stamp rows with it

# Prisma's DateTime: TIMESTAMP(3), naive, UTC.
Timestamp = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
# Prisma's Json: JSONB.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Prisma's String maps to TEXT whether or not @db.Text is given.
Text = sa.Text


# Prisma's constraint names, applied to Backoffice's own tables too so the database reads as
# one schema. Unique keys are unique *indexes* in Prisma and are named explicitly.
NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "%(table_name)s_%(column_0N_name)s_idx",
    "uq": "%(table_name)s_%(column_0N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}


# Backoffice's own tables live in a PostgreSQL schema of their own so that the seed
# application's Prisma tools, which only look at `public`, never see them. Models name this
# placeholder; the engine's schema_translate_map turns it into BACKOFFICE_DB_SCHEMA on
# PostgreSQL and removes it on SQLite, which has no schemas (see dashboard.database).
BO_SCHEMA = "backoffice"
BO_TABLE_ARGS = {"schema": BO_SCHEMA}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def unique_index(table: str, *columns: str) -> sa.Index:
    """A unique index named as Prisma names a @unique / @@unique key."""
    return sa.Index(f"{table}_{'_'.join(columns)}_key", *columns, unique=True)


def foreign_key(target: str, *, ondelete: str) -> sa.ForeignKey:
    """A foreign key with Prisma's actions: ON UPDATE CASCADE always; ON DELETE as given
    (CASCADE where the schema says so, RESTRICT for required relations, SET NULL for
    optional ones)."""
    return sa.ForeignKey(target, ondelete=ondelete, onupdate="CASCADE")


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter_lock = threading.Lock()
_counter = secrets.randbelow(36**4)


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 36)
        digits.append(_BASE36[rem])
    return "".join(reversed(digits))


_FINGERPRINT = _base36(os.getpid() * 7919 + secrets.randbelow(36**4), 4)


def cuid() -> str:
    """A 25-character collision-resistant id in the format of Prisma's ``cuid()``:
    ``c`` + time (8) + counter (4) + process fingerprint (4) + random (8)."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) % 36**4
        count = _counter
    millis = int(time.time() * 1000)
    return (
        "c"
        + _base36(millis, 8)
        + _base36(count, 4)
        + _FINGERPRINT
        + _base36(secrets.randbelow(36**8), 8)
    )
