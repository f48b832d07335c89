"""``flask worker``: an RQ worker on ``REDIS_URL`` that runs Backoffice's jobs in this app
(through ``dashboard.jobs.rq_entry``, which finds the command's app context).

It also queues the periodic product-and-price refresh (every
``STRIPE_CATALOG_REFRESH_INTERVAL`` seconds) while it runs, through the same jobs table;
several workers queue one job per interval between them. Without a worker, the cron line
in README ("Stripe") does the same.
"""

from __future__ import annotations

import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.jobs import redis_connection

SCHEDULE_TICK_SECONDS = 30
SCHEDULER_ACTOR = Actor.system("scheduler")


def register(app: Flask) -> None:
    app.cli.add_command(worker)


def _schedule(app: Flask, stop: threading.Event) -> None:
    from dashboard.services.stripe.gateway import StripeSettings
    from dashboard.services.stripe.refresh import stripe_catalog_refresh_request

    while True:
        with app.app_context():
            try:
                stripe_catalog_refresh_request(
                    actor=SCHEDULER_ACTOR, settings=StripeSettings.from_config(app.config)
                )
            except Exception:  # a bad tick must not kill the schedule
                app.logger.exception("could not queue the Stripe product/price refresh")
            finally:
                db.session.remove()
        if stop.wait(SCHEDULE_TICK_SECONDS):
            return


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--no-schedule", is_flag=True, help="Do not queue the periodic Stripe product/price refresh."
)
@with_appcontext
def worker(burst: bool, no_schedule: bool) -> None:
    """Run background jobs from Redis (REDIS_URL) until stopped."""
    from redis.exceptions import RedisError
    from rq import Queue, SimpleWorker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set; the worker takes its jobs from Redis")
    connection = redis_connection(app)
    try:
        connection.ping()
    except RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at REDIS_URL: {exc}") from None
    stop = threading.Event()
    if not no_schedule and not burst and app.config.get("STRIPE_SECRET_KEY"):
        threading.Thread(target=_schedule, args=(app, stop), name="schedule", daemon=True).start()
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    click.echo(f"Worker on queue {queue.name!r}{' (burst)' if burst else ''}.")
    try:
        # SimpleWorker runs each job in this process, inside this app: no fork per job.
        SimpleWorker([queue], connection=connection).work(burst=burst, with_scheduler=False)
    finally:
        stop.set()
