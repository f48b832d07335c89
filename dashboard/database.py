"""How Backoffice connects: URL normalisation, engine options, SQLite behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from config import Config, ConfigError
from dashboard.models.base import BO_SCHEMA

# Query parameters that Prisma reads from its DATABASE_URL but libpq rejects; dropping them
# lets Backoffice use the seed application's own URL unchanged.
PRISMA_ONLY_PARAMS = ("schema", "connection_limit", "pool_timeout", "pgbouncer", "socket_timeout")


def resolve_database_url(raw: str | None, instance_path: str) -> URL:
    """Turn ``DATABASE_URL`` into a SQLAlchemy URL, or raise ConfigError saying what is wrong.

    No value means a SQLite file in the instance folder (the embedded default).
    """
    if raw is None:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{Path(instance_path) / 'backoffice.sqlite3'}")
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except Exception:
        raise ConfigError(
            "DATABASE_URL is not a database URL; expected e.g. "
            "postgresql://user:password@host:5432/dbname or sqlite:///path/to/file.sqlite3"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise ConfigError(
            f"DATABASE_URL uses {backend!r}; Backoffice supports postgresql and sqlite"
        )
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg2")
        schema = url.query.get("schema")
        url = url.difference_update_query(PRISMA_ONLY_PARAMS)
        if schema and schema != "public":
            url = url.update_query_dict({"options": f"-c search_path={schema}"})
    return url


def schema_translate_map(config: Config, url: URL) -> dict[str, str | None]:
    """Where the models' placeholder schema for Backoffice's own tables really is:
    BACKOFFICE_DB_SCHEMA on PostgreSQL, nowhere on SQLite (one file, no schemas)."""
    if url.get_backend_name() == "sqlite":
        return {BO_SCHEMA: None}
    return {BO_SCHEMA: config.BACKOFFICE_DB_SCHEMA}


def backoffice_schema(bind: sa.Engine | sa.Connection) -> str | None:
    """The real schema of Backoffice's own tables for this engine or connection (None on
    SQLite), as its schema_translate_map says."""
    translate = bind.get_execution_options().get("schema_translate_map") or {}
    if bind.dialect.name == "sqlite":
        return None
    return translate.get(BO_SCHEMA, BO_SCHEMA)


def quoted_table_name(table: sa.Table, bind: sa.Engine | sa.Connection) -> str:
    """``table``'s name as raw SQL must write it on ``bind``: schema-qualified for
    Backoffice's own tables on PostgreSQL (raw SQL is not schema-translated)."""
    schema = backoffice_schema(bind) if table.schema == BO_SCHEMA else table.schema
    return f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'


def engine_options(config: Config, url: URL) -> dict[str, Any]:
    """Pool and connection settings for ``url`` from the configuration."""
    execution_options = {"schema_translate_map": schema_translate_map(config, url)}
    if url.get_backend_name() == "sqlite":
        # A 30 s busy timeout keeps a second process (the CLI beside the server) from
        # failing at once with "database is locked".
        return {"connect_args": {"timeout": 30}, "execution_options": execution_options}
    options = []
    if config.DB_STATEMENT_TIMEOUT_MS > 0:
        options.append(f"-c statement_timeout={config.DB_STATEMENT_TIMEOUT_MS}")
    connect_args: dict[str, Any] = {
        "connect_timeout": config.DB_CONNECT_TIMEOUT,
        "application_name": "backoffice",
    }
    if options:
        # A search_path given through the URL (Prisma's ?schema=) must be kept.
        existing = url.query.get("options")
        connect_args["options"] = " ".join([existing, *options] if existing else options)
    return {
        "pool_pre_ping": True,
        "pool_size": config.DB_POOL_SIZE,
        "max_overflow": config.DB_MAX_OVERFLOW,
        "pool_recycle": config.DB_POOL_RECYCLE,
        "pool_timeout": config.DB_POOL_TIMEOUT,
        "connect_args": connect_args,
        "execution_options": execution_options,
    }


def configure_sqlite_engine(engine: sa.Engine) -> None:
    """Give SQLite the behaviour the schema relies on.

    Foreign keys are off by default in SQLite, so ON DELETE CASCADE/SET NULL/RESTRICT would
    silently not happen. pysqlite also defers BEGIN until the first write, which breaks
    SAVEPOINT handling; SQLAlchemy's documented recipe takes BEGIN over.
    """
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def describe_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except Exception:
            return "<unparseable DATABASE_URL>"
    return url.render_as_string(hide_password=True)


def drop_everything(engine: sa.Engine) -> None:
    """Drop every table (and, on PostgreSQL, every enum type and Backoffice's own schema)
    in the database."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Backoffice's own schema, with its tables, functions and migration history;
            # first, since its tables reference the seed application's.
            connection.exec_driver_sql(
                f'DROP SCHEMA IF EXISTS "{backoffice_schema(connection)}" CASCADE'
            )
        metadata.drop_all(bind=connection)
        if connection.dialect.name == "postgresql":
            enum_names = (
                connection.execute(
                    sa.text(
                        "SELECT t.typname FROM pg_type t "
                        "JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                    )
                )
                .scalars()
                .all()
            )
            for name in enum_names:
                connection.execute(sa.text(f'DROP TYPE IF EXISTS "{name}" CASCADE'))
            # Backoffice's trigger functions (all named bo_...).
            functions = (
                connection.execute(
                    sa.text(
                        "SELECT p.oid::regprocedure::text FROM pg_proc p "
                        "JOIN pg_namespace n ON n.oid = p.pronamespace "
                        "WHERE n.nspname = current_schema() AND p.proname LIKE 'bo\\_%'"
                    )
                )
                .scalars()
                .all()
            )
            for signature in functions:
                connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {signature} CASCADE"))


def register_error_handlers(app: Any) -> None:
    """A lost database is a 503 page that says so (with the request id), not a traceback."""
    from dashboard.observability import error_response

    @app.errorhandler(sa.exc.OperationalError)
    def _database_unavailable(exc: sa.exc.OperationalError) -> Any:
        first_line = (str(exc.orig or exc).strip().splitlines() or ["?"])[0]
        app.logger.error("database unavailable: %s", first_line)
        return error_response(
            503,
            title="Database unavailable",
            message="Backoffice cannot reach its database right now. Try again in a minute; "
            "if it persists, tell whoever is on call and quote the request id below.",
        )
