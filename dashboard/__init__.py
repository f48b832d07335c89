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
    """Build the Backoffice application: the one place that wires it (extensions, logging,
    blueprints, the admin, the webhook, job kinds and commands).

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
        media_views,
        observability,
        security,
        sql_count,
    )
    from dashboard.extensions import db, migrate
    from dashboard.services.stripe.gateway import install_log_scrubber
    from dashboard.webhooks import stripe as stripe_webhooks

    cli.install_error_handler()
    settings = _build_config(config)
    settings.validate()

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(settings)
    app.config["ENV_NAME"] = settings.ENV_NAME
    observability.init_app(app)
    install_log_scrubber()  # keys out of the Stripe SDK's own log lines

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

    _register_jobs(app)
    media_views.init_app(app)
    app.register_blueprint(health.bp)
    auth.init_app(app)  # sign-in, sessions, deny-by-default guard (runs before the CSRF check)
    security.init_app(app)  # CSRF on every POST, CSP and the other security headers
    admin.init_admin(app)
    sql_count.init_app(app)  # X-SQL-Statements header, with BENCH_SQL_COUNT only
    stripe_webhooks.init_app(app)  # POST /webhooks/stripe, signed instead of CSRF-protected
    _register_commands(app)
    database.register_error_handlers(app)
    return app


def _register_jobs(app: Flask) -> None:
    """Dispatch jobs after commit, and the job kinds: kind -> the service function that
    runs it (and what a failure gives back). Web processes and workers alike build the app
    here, so both know every kind."""
    from dashboard import jobs
    from dashboard.jobs import posts as post_jobs
    from dashboard.jobs import stripe as stripe_jobs
    from dashboard.services.posts import generation, generation_run
    from dashboard.services.stripe import resync_jobs

    jobs.init_app(app)
    jobs.job_register(
        generation.JOB_KIND,
        post_jobs.post_generation_job,
        on_failure=generation_run.post_generation_refund_in_job_fail,
    )
    jobs.job_register(resync_jobs.JOB_KIND, stripe_jobs.stripe_resync_job)


def _register_commands(app: Flask) -> None:
    """The ``flask`` commands, one module per noun (README's command table lists them)."""
    from dashboard.cli import backup, demo, posts, prisma, staff, stripe, tokens, users, worker
    from dashboard.cli import db as db_commands

    for commands in (
        db_commands,
        demo,
        staff,
        users,
        tokens,
        stripe,
        posts,
        prisma,
        backup,
        worker,
    ):
        commands.register(app)
