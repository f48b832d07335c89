"""Alembic environment for Flask-Migrate."""

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

from dashboard.database import backoffice_schema as backoffice_schema_of

config = context.config
# Keep the application's own loggers working when migrations run inside its process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

# Tables in the database that Backoffice does not own and must never drop or compare.
FOREIGN_TABLES = {"_prisma_migrations"}


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and reflected and compare_to is None and name in FOREIGN_TABLES:
        return False
    return True


def backoffice_schema():
    """Where Backoffice's own tables and the version table live (None on SQLite)."""
    return backoffice_schema_of(get_engine())


def include_name(name, type_, parent_names):
    # Autogenerate compares the seed application's schema and Backoffice's own, nothing else.
    if type_ == "schema":
        return name in (None, backoffice_schema())
    return True


def prepare_backoffice_schema(connection):
    """Create Backoffice's schema, and move a version table left in the default schema by
    revisions before 0011 into it, so that Alembic finds the database's revision there."""
    schema = backoffice_schema()
    if schema is None:
        return
    connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    inspector = sa.inspect(connection)
    if inspector.has_table("alembic_version", schema="public") and not inspector.has_table(
        "alembic_version", schema=schema
    ):
        connection.exec_driver_sql(f'ALTER TABLE public.alembic_version SET SCHEMA "{schema}"')
    connection.commit()


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_metadata():
    return current_app.extensions["migrate"].db.metadata


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        literal_binds=True,
        include_object=include_object,
        include_schemas=True,
        include_name=include_name,
        version_table_schema=backoffice_schema(),
    )
    with context.begin_transaction():
        if backoffice_schema() is not None:
            # Before the version table is created in it.
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{backoffice_schema()}"')
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("include_object", include_object)
    conf_args.setdefault("include_schemas", True)
    conf_args.setdefault("include_name", include_name)
    conf_args.setdefault("version_table_schema", backoffice_schema())

    with get_engine().connect() as connection:
        if connection.dialect.name == "postgresql":
            # Migrations may build indexes on big tables: no statement timeout here.
            connection.exec_driver_sql("SET statement_timeout = 0")
            connection.commit()
            prepare_backoffice_schema(connection)
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
