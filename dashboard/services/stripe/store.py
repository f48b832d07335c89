"""How the Stripe sync writes: batched, ordered, idempotent upserts.

A batch of rows of one table, all read from Stripe at ``fetched_at``, is written in three
statements whatever its size:
1. one SELECT of the stored rows, to tell created / updated / unchanged apart (unchanged
   rows are not written at all, so a second resync writes nothing);
2. one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE mark.fetched_at <= excluded.fetched_at
   RETURNING`` on ``bo_stripe_sync_mark``: the rows whose read is not older than the last
   one written "win" and keep the mark's row lock until commit;
3. one ``INSERT ... ON CONFLICT (stripe id) DO UPDATE`` of the winners.
Rows are sorted by id so concurrent batches lock marks in the same order (no deadlocks), and
the upsert never raises a unique-key error when two writers insert the same object at once.
PostgreSQL and SQLite (3.35+) share the statements through their dialects' ``insert``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.extensions import db
from dashboard.models import StripeSyncMark, utcnow

MAX_LISTED = 50  # failures / skips listed per type in a report (all are counted)
# For a PostgreSQL transaction whose commit need not wait for its WAL flush (see callers).
SYNC_COMMIT_OFF = sa.text("SET LOCAL synchronous_commit = off")


@dataclass
class TypeReport:
    """What a sync did to one object type."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: int = 0
    failed: int = 0
    granted: int = 0  # token allowances granted (payments)
    failures: list[dict[str, str]] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)

    def fail(self, object_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append({"id": object_id, "reason": reason})

    def skip(self, object_id: str, reason: str) -> None:
        self.skipped += 1
        if len(self.skips) < MAX_LISTED:
            self.skips.append({"id": object_id, "reason": reason})

    def add(self, outcome: Outcome) -> None:
        self.created += len(outcome.created)
        self.updated += len(outcome.updated)
        self.unchanged += len(outcome.unchanged) + len(outcome.stale)

    def merge(self, other: TypeReport) -> None:
        for name in ("created", "updated", "unchanged", "deactivated", "granted", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed += other.failed
        self.failures += other.failures[: MAX_LISTED - len(self.failures)]
        self.skips += other.skips[: MAX_LISTED - len(self.skips)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "skipped": self.skipped,
            "failed": self.failed,
            "granted": self.granted,
            "failures": list(self.failures),
            "skips": list(self.skips),
        }


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # a newer read was written meanwhile

    @property
    def written(self) -> list[str]:
        return self.created + self.updated


def dialect_insert(table: sa.Table) -> Any:
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def cached_statement(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """A statement built once per dialect and ``key``: statements are immutable, and
    building an upsert (its ``excluded`` alias, its cache key) costs more than running it."""
    full_key = (db.session.get_bind().dialect.name, *key)
    statement = _STATEMENTS.get(full_key)
    if statement is None:
        statement = _STATEMENTS[full_key] = build()
    return statement


def pairs(stmt: sa.Select) -> dict[Any, Any]:
    """The rows of a two-column SELECT as a dict."""
    return {row[0]: row[1] for row in db.session.execute(stmt)}


@functools.cache
def column_keys(model: type) -> dict[str, str]:
    """Attribute name -> column key (the shared tables use Prisma's camelCase names)."""
    mapper = sa.inspect(model)
    return {attr.key: attr.columns[0].key for attr in mapper.column_attrs}


def claim_marks(
    object_type: str, ids: Iterable[str], fetched_at: int, *, deleted: bool = False
) -> set[str]:
    """Record that ``ids`` were read at ``fetched_at``; return those whose read is not older
    than the last one recorded (only those may be written)."""
    ordered = sorted(set(ids))
    if not ordered:
        return set()
    stmt = cached_statement(("claim_marks",), _claim_statement)
    rows = [
        {"stripe_id": i, "object_type": object_type, "fetched_at": fetched_at, "deleted": deleted}
        for i in ordered
    ]
    # A list of parameters makes one multi-row statement per 1,000 rows ("insertmanyvalues"),
    # compiled once and cached, instead of one compilation per batch size.
    return set(db.session.execute(stmt, rows).scalars())


def _claim_statement() -> Any:
    table = StripeSyncMark.__table__
    stmt = dialect_insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.stripe_id],
        set_={"fetched_at": stmt.excluded.fetched_at, "deleted": stmt.excluded.deleted},
        where=table.c.fetched_at <= stmt.excluded.fetched_at,
    ).returning(table.c.stripe_id)


@dataclass(frozen=True)
class TableSpec:
    """How one shared table is upserted."""

    model: type
    key: str  # attribute holding the Stripe id
    compared: tuple[str, ...]  # attributes whose change makes an update
    insert_only: tuple[str, ...] = ()  # attributes written on insert only
    has_updated_at: bool = False
    # (stored row, incoming row) -> incoming row as it would be stored (e.g. sticky states)
    normalise: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    # column key -> SQL expression(table, excluded) used in the DO UPDATE
    update_sql: Callable[[sa.Table, Any], dict[str, Any]] | None = None


def stored_rows(spec: TableSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored values of the compared attributes, by Stripe id."""
    if not keys:
        return {}
    names = (spec.key, *spec.compared)
    stmt = cached_statement(("stored", spec.model.__name__), lambda: _stored_statement(spec))
    rows = db.session.execute(stmt, {"keys": list(keys)})
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def _stored_statement(spec: TableSpec) -> sa.Select:
    # Core columns, not ORM attributes: no ORM loading machinery on the hot path.
    table: sa.Table = spec.model.__table__
    keys = column_keys(spec.model)
    columns = [table.c[keys[name]] for name in (spec.key, *spec.compared)]
    return sa.select(*columns).where(
        table.c[keys[spec.key]].in_(sa.bindparam("keys", expanding=True))
    )


def differs(
    spec: TableSpec, stored: dict[str, Any], incoming: dict[str, Any], ignore: tuple[str, ...] = ()
) -> bool:
    """Whether writing ``incoming`` would change the ``stored`` row (``ignore``: attributes
    the incoming row does not carry yet)."""
    if spec.normalise:
        incoming = spec.normalise(stored, incoming)
    return any(stored[name] != incoming.get(name) for name in spec.compared if name not in ignore)


def split_unchanged(
    spec: TableSpec, rows: list[dict[str, Any]], ignore: tuple[str, ...] = ()
) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, Any]]]:
    """(rows that would change something, how many would not, the stored rows): lets a
    caller skip the work a row needs (its user, its dependencies) when it changes nothing."""
    stored = stored_rows(spec, [row[spec.key] for row in rows])
    changed = [
        row
        for row in rows
        if row[spec.key] not in stored or differs(spec, stored[row[spec.key]], row, ignore)
    ]
    return changed, len(rows) - len(changed), stored


def upsert_rows(
    spec: TableSpec,
    object_type: str,
    rows: list[dict[str, Any]],
    fetched_at: int,
    stored: dict[str, dict[str, Any]] | None = None,
) -> Outcome:
    """Write ``rows`` (attribute-name dicts, read from Stripe at ``fetched_at``) into the
    spec's table in the caller's transaction; see the module docstring for the rules.
    ``stored`` is the caller's ``split_unchanged`` result, when it has one."""
    outcome = Outcome()
    by_key = {row[spec.key]: row for row in rows}
    if not by_key:
        return outcome
    if stored is None:
        stored = stored_rows(spec, list(by_key))
    candidates = []
    for key in sorted(by_key):
        if key in stored and not differs(spec, stored[key], by_key[key]):
            outcome.unchanged.append(key)
        else:
            candidates.append(key)
    winners = claim_marks(object_type, candidates, fetched_at)
    for key in candidates:
        if key not in winners:
            outcome.stale.append(key)
        elif key in stored:
            outcome.updated.append(key)
        else:
            outcome.created.append(key)
    if outcome.written:
        _write(spec, [by_key[key] for key in sorted(outcome.written)])
    return outcome


def _write(spec: TableSpec, rows: list[dict[str, Any]]) -> None:
    keys = column_keys(spec.model)
    table: sa.Table = spec.model.__table__
    now = utcnow()
    values = []
    for row in rows:
        value = {keys[name]: item for name, item in row.items() if name in keys}
        if spec.has_updated_at:
            value[keys["updated_at"]] = now
        values.append(value)
    columns = tuple(values[0])
    stmt = cached_statement(("write", table.name, columns), lambda: _write_statement(spec, columns))
    db.session.execute(stmt, values)


def _write_statement(spec: TableSpec, columns: tuple[str, ...]) -> Any:
    keys = column_keys(spec.model)
    table: sa.Table = spec.model.__table__
    stmt = dialect_insert(table)
    excluded = stmt.excluded
    skip = {keys[name] for name in (spec.key, *spec.insert_only)}
    set_ = {c: excluded[c] for c in columns if c not in skip}
    if spec.update_sql:
        set_.update(spec.update_sql(table, excluded))
    compared = [keys[name] for name in spec.compared]
    return stmt.on_conflict_do_update(
        index_elements=[table.c[keys[spec.key]]],
        set_=set_,
        where=sa.or_(*(table.c[c].is_distinct_from(excluded[c]) for c in compared)),
    )
