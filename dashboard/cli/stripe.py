"""``flask stripe sync | replay-events``: the doors to the Stripe sync.

``flask sync-stripe`` is the older name of ``flask stripe sync``, kept as an alias."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR, alias, call, refusals_as_one_line
from dashboard.models import utcnow
from dashboard.services.stripe.events import replay_default_since, stripe_events_replay
from dashboard.services.stripe.gateway import StripeSettings, stripe_gateway
from dashboard.services.stripe.resync import (
    RESYNC_TYPES,
    ResyncProgress,
    ResyncReport,
    resync_types,
    stripe_resync,
)

COLUMNS = ("created", "updated", "unchanged", "deactivated", "skipped", "failed")
EVENTS_RETENTION = timedelta(days=30)

stripe_group = AppGroup("stripe", help="Stripe sync tools.")


def register(app: Flask) -> None:
    app.cli.add_command(stripe_group)
    app.cli.add_command(alias(sync, "sync-stripe", of="stripe sync"))


def _print_report(report: ResyncReport) -> None:
    click.echo(f"{'type':<14}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, part in report.types.items():
        click.echo(f"{name:<14}" + "".join(f"{getattr(part, c):>12,}" for c in COLUMNS))
    for name, part in report.types.items():
        if part.granted:
            click.echo(f"{name}: {part.granted:,} token allowance(s) granted")
        for item in part.skips:
            click.echo(f"skipped {name} {item['id']}: {item['reason']}")
        for item in part.failures:
            click.echo(f"FAILED {name} {item['id']}: {item['reason']}", err=True)
    verb = "Would have synced (dry run, nothing written)" if report.dry_run else "Synced"
    click.echo(f"{verb} in {report.seconds:.1f}s.")


@stripe_group.command("sync")
@click.option(
    "--only",
    default=None,
    metavar="TYPES",
    help="Comma-separated subset of: " + ",".join(RESYNC_TYPES) + ".",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@refusals_as_one_line
def sync(only: str | None, dry_run: bool) -> None:
    """Bring the local copy of Stripe (products, prices, customers, subscriptions,
    payments) in line with Stripe. Exits non-zero if any object failed."""
    wanted = [part.strip() for part in only.split(",") if part.strip()] if only else None
    kinds = resync_types(wanted)
    settings = StripeSettings.from_config(current_app.config)
    stripe_gateway(settings)  # a configuration problem is one line, before any progress bar
    with click.progressbar(
        length=100, label="Syncing from Stripe", show_pos=False, item_show_func=lambda s: s
    ) as bar:

        def progress(step: ResyncProgress) -> None:
            bar.update(max(0, step.percent - bar.pos), f"{step.phase}: {step.seen:,}")

        report = stripe_resync(
            actor=CLI_ACTOR, settings=settings, only=kinds, dry_run=dry_run, progress=progress
        )
    _print_report(report)
    if report.failed:
        raise click.ClickException(f"{report.failed:,} object(s) failed; see above.")


@stripe_group.command("replay-events")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    default=None,
    help="UTC date (and time) to replay from; default: an hour before the newest processed event.",
)
def replay_events(since: datetime | None) -> None:
    """Pull Stripe's /v1/events and apply, oldest first, those not processed yet (after
    downtime, or a webhook endpoint that was misconfigured)."""
    since = since or replay_default_since()
    if since is None:
        raise click.ClickException("no event was ever processed here; give --since DATE")
    if since < utcnow() - EVENTS_RETENTION:
        click.echo("Note: Stripe keeps events for 30 days; older ones cannot be replayed.")
    report = call(
        stripe_events_replay,
        since=since,
        actor=CLI_ACTOR,
        settings=StripeSettings.from_config(current_app.config),
    )
    click.echo(
        f"{report.seen:,} event(s) since {since:%Y-%m-%d %H:%M} UTC: {report.applied:,} applied, "
        f"{report.already_processed:,} already processed, {report.failed:,} failed."
    )
    for item in report.failures:
        click.echo(f"FAILED {item['id']}: {item['reason']}", err=True)
    if report.failed:
        raise click.ClickException(f"{report.failed:,} event(s) failed.")
