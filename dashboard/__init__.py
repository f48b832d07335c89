"""Backoffice: the internal admin dashboard of the SaaS."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import Config, get_config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _build_config(config: str | Config | Mapping[str, Any] | None) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, str) or config is None:
        return get_config(config)
    overrides = dict(config)
    built = get_config(overrides.pop("BACKOFFICE_ENV", None))
    for key, value in overrides.items():
        setattr(built, key, value)
    return built


def create_app(config: str | Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the Backoffice application.

    ``config`` is an environment name (``production``, ``development``, ``testing``), a
    Config object, or a mapping of settings applied over the environment's configuration
    (``BACKOFFICE_ENV`` in it picks the environment). Raises ``config.ConfigError`` when a
    setting is missing or wrong.
    """
    from dashboard import (
        admin,
        auth,
        cli,
        database,
        health,
        jobs,
        media_views,
        observability,
        posts_cli,
        prisma_cli,
        security,
        sql_count,
        stripe_cli,
        support_cli,
    )
    from dashboard.extensions import db, migrate
    from dashboard.ops import cli as ops_cli

    cli.install_error_handler()
    settings = _build_config(config)
    settings.validate()

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(settings)
    app.config["ENV_NAME"] = settings.ENV_NAME
    observability.init_app(app)

    url = database.resolve_database_url(settings.DATABASE_URL, app.instance_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = url.render_as_string(hide_password=False)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(settings, url)

    db.init_app(app)
    with app.app_context():
        database.configure_sqlite_engine(db.engine)
    migrate.init_app(
        app,
        db,
        directory=str(MIGRATIONS_DIR),
        compare_type=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )

    jobs.init_app(app)
    posts_cli.init_app(app)
    media_views.init_app(app)
    app.register_blueprint(health.bp)
    auth.init_app(app)  # sign-in, sessions, deny-by-default guard (runs before the CSRF check)
    security.init_app(app)  # CSRF on every POST, CSP and the other security headers
    admin.init_admin(app)
    sql_count.init_app(app)  # X-SQL-Statements header, with BENCH_SQL_COUNT only
    cli.register(app)
    ops_cli.register_cli(app)
    support_cli.register_cli(app)
    stripe_cli.init_app(app)
    prisma_cli.register_cli(app)
    database.register_error_handlers(app)
    return app
