"""Compare a live database's shared tables with the Prisma schema (for ``flask db-adopt``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dashboard.prisma_schema import ENUM_TYPES, TABLE_ORDER, prisma_metadata


def _describe(diff: object) -> str:
    """One line per difference, written from the point of view of the existing database."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(item) for item in diff)
    kind, *rest = diff  # type: ignore[misc]
    if kind in ("add_column", "remove_column"):
        _schema, table, column = rest
        verb = "missing column" if kind == "add_column" else "unexpected column"
        return f"{verb} {table}.{column.name}"
    if kind.startswith("modify_"):
        _schema, table, column = rest[:3]
        aspect = kind.removeprefix("modify_")
        return f"{aspect} of {table}.{column} is {rest[-1]!r}, expected {rest[-2]!r}"
    target = rest[0]
    name = getattr(target, "name", None)
    table = getattr(getattr(target, "table", None), "name", None)
    verb = {"add": "missing", "remove": "unexpected"}.get(kind.split("_")[0], kind)
    what = kind.split("_", 1)[-1].replace("_", " ")
    where = f"{table}.{name}" if table and name else (name or str(target))
    return f"{verb} {what}: {where}"


def schema_differences(connection: sa.Connection) -> list[str]:
    """Human-readable differences between the database's shared tables and schema.prisma.

    Tables that are not Prisma's (Backoffice's own, ``_prisma_migrations``) are ignored.
    """
    expected = prisma_metadata()
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    missing = [name for name in TABLE_ORDER if name not in present]
    if missing:
        return [f"missing table {name}" for name in missing]

    def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN202
        if type_ == "table":
            return name in TABLE_ORDER
        table = getattr(obj, "table", None)
        return table is None or table.name in TABLE_ORDER

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    problems = [_describe(diff) for diff in compare_metadata(context, expected)]
    problems += _foreign_key_actions(inspector, expected)
    if connection.dialect.name == "postgresql":
        problems += _enum_values(connection)
    return problems


def _foreign_key_actions(inspector: sa.Inspector, expected: sa.MetaData) -> list[str]:
    problems = []
    for table in expected.sorted_tables:
        actual = {
            tuple(fk["constrained_columns"]): fk for fk in inspector.get_foreign_keys(table.name)
        }
        for fk in table.foreign_key_constraints:
            found = actual.get(tuple(fk.column_keys))
            if found is None:
                problems.append(f"missing foreign key on {table.name}.{fk.column_keys[0]}")
                continue
            options = found.get("options", {})
            for action in ("ondelete", "onupdate"):
                want = (getattr(fk, action) or "NO ACTION").upper()
                have = (options.get(action) or "NO ACTION").upper()
                if want != have:
                    problems.append(
                        f"foreign key {table.name}.{fk.column_keys[0]} has {action.upper()} "
                        f"{have}, expected {want}"
                    )
    return problems


def _enum_values(connection: sa.Connection) -> list[str]:
    problems = []
    for name, values in ENUM_TYPES.items():
        found = (
            connection.execute(
                sa.text(
                    "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                    "WHERE t.typname = :name ORDER BY e.enumsortorder"
                ),
                {"name": name},
            )
            .scalars()
            .all()
        )
        if tuple(found) != values:
            problems.append(f'enum type "{name}" has values {found}, expected {list(values)}')
    return problems
