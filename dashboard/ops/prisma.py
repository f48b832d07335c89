"""What the seed repository must know of Backoffice so that Prisma Migrate keeps its hands off:
the indexes Backoffice adds to the shared tables.

Prisma drops every index on its tables that its migration history and schema.prisma do not
know. ``prisma_additions`` lists Backoffice's indexes (those of the models that the frozen
Prisma schema, ``dashboard.prisma_schema``, does not have) as

- a Prisma migration (``<timestamp>_backoffice_indexes/migration.sql``) of
  ``CREATE INDEX IF NOT EXISTS`` statements, which the seed repository commits (or marks as
  applied, on a database where Backoffice created them already);
- ``@@index([...], map: "...")`` lines for schema.prisma, for the indexes Prisma can express
  (plain column lists). Expression indexes (``lower(email) text_pattern_ops``, trigram GIN)
  have no schema.prisma form; Prisma's diff does not see them, so the migration alone keeps
  them.

Nothing here touches a database: the models say what Backoffice needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from dashboard.models import SHARED_TABLES, Base
from dashboard.prisma_schema import prisma_metadata

MIGRATION_SUFFIX = "backoffice_indexes"
TRIGRAM_OPS = "gin_trgm_ops"
HEADER = (
    "-- Indexes Backoffice adds to the seed application's tables (flask prisma-additions).\n"
    "-- IF NOT EXISTS: safe on a database where Backoffice created them already.\n"
)
ERR_NO_MODEL = "schema.prisma has no model {model}."
ERR_NO_FIELD = "schema.prisma's model {model} has no field for column {column}."


class PrismaSchemaError(Exception):
    """schema.prisma does not have what Backoffice's indexes refer to."""


@dataclass(frozen=True)
class AddedIndex:
    table: str
    name: str
    sql: str  # CREATE INDEX IF NOT EXISTS ...;
    columns: tuple[str, ...] | None  # None: not a plain column list (Prisma cannot say it)
    unique: bool


@dataclass(frozen=True)
class Additions:
    indexes: tuple[AddedIndex, ...]
    schema_lines: dict[str, tuple[str, ...]]  # model -> its @@index lines

    @property
    def migration_sql(self) -> str:
        statements = [index.sql for index in self.indexes]
        if any(TRIGRAM_OPS in index.sql for index in self.indexes):
            statements.insert(0, "CREATE EXTENSION IF NOT EXISTS pg_trgm;")
        return HEADER + "\n".join(statements) + "\n"


def _plain_columns(index: sa.Index) -> tuple[str, ...] | None:
    plain = all(isinstance(e, sa.Column) for e in index.expressions)
    dialect = index.dialect_options["postgresql"]
    special = dialect.get("using") or dialect.get("where") or dialect.get("include")
    return tuple(c.name for c in index.columns) if plain and not special else None


def added_indexes() -> list[AddedIndex]:
    """Every index the models put on a shared table that Prisma's schema does not have,
    by table then name."""
    prisma_names = {
        index.name for table in prisma_metadata().tables.values() for index in table.indexes
    }
    found = []
    for name in sorted(SHARED_TABLES):
        table = Base.metadata.tables[name]
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            if index.name in prisma_names:
                continue
            sql = str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))
            found.append(
                AddedIndex(
                    table=name,
                    name=str(index.name),
                    sql=" ".join(sql.split()) + ";",
                    columns=_plain_columns(index),
                    unique=bool(index.unique),
                )
            )
    return found


def _model_fields(schema: str) -> dict[str, dict[str, str]]:
    """model -> {database column: Prisma field} read from schema.prisma's text."""
    models: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"^model\s+(\w+)\s*\{(.*?)^\}", schema, re.M | re.S):
        fields: dict[str, str] = {}
        for line in match.group(2).splitlines():
            words = line.split()
            if len(words) < 2 or words[0].startswith(("@", "//")):
                continue
            mapped = re.search(r'@map\("([^"]+)"\)', line)
            fields[mapped.group(1) if mapped else words[0]] = words[0]
        models[match.group(1)] = fields
    return models


def prisma_additions(*, schema: str) -> Additions:
    """Backoffice's indexes on the shared tables, as a migration and as ``@@index`` lines for
    the models of ``schema`` (schema.prisma's text). Raises PrismaSchemaError when a model
    or a column is missing from it."""
    models = _model_fields(schema)
    indexes = added_indexes()
    lines: dict[str, list[str]] = {}
    for index in indexes:
        if index.columns is None:
            continue
        fields = models.get(index.table)
        if fields is None:
            raise PrismaSchemaError(ERR_NO_MODEL.format(model=index.table))
        names = []
        for column in index.columns:
            if column not in fields:
                raise PrismaSchemaError(ERR_NO_FIELD.format(model=index.table, column=column))
            names.append(fields[column])
        attribute = "@@unique" if index.unique else "@@index"
        lines.setdefault(index.table, []).append(
            f'{attribute}([{", ".join(names)}], map: "{index.name}")'
        )
    return Additions(tuple(indexes), {model: tuple(found) for model, found in lines.items()})


def schema_with_additions(schema: str, additions: Additions) -> str:
    """``schema`` with each model's missing ``@@index`` lines added before its closing brace
    (lines already there are left alone, so applying it twice changes nothing)."""

    def extend(match: re.Match[str]) -> str:
        body = match.group(2)
        missing = [
            line for line in additions.schema_lines.get(match.group(1), ()) if line not in body
        ]
        if not missing:
            return match.group(0)
        added = "".join(f"  {line}\n" for line in missing)
        return f"{match.group(1)}{body.rstrip()}\n\n{added}}}"

    return re.sub(r"(?<=^model )(\w+)(\s*\{.*?)^\}", extend, schema, flags=re.M | re.S)


def write_migration(*, additions: Additions, out: Path, now: datetime) -> Path:
    """Write ``<out>/<timestamp>_backoffice_indexes/migration.sql`` (Prisma's folder naming,
    UTC ``YYYYMMDDHHMMSS``) and return the file's path. An earlier Backoffice migration in
    ``out`` with the same SQL is reused, so that running it again adds nothing."""
    for existing in sorted(out.glob(f"*_{MIGRATION_SUFFIX}/migration.sql")):
        if existing.read_text() == additions.migration_sql:
            return existing
    folder = out / f"{now:%Y%m%d%H%M%S}_{MIGRATION_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migration.sql"
    path.write_text(additions.migration_sql)
    return path
