"""``flask posts ...``: maintenance of blog posts and their AI generation."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR

posts_cli = AppGroup("posts", help="Blog posts and their AI generation.")


def register(app: Flask) -> None:
    app.cli.add_command(posts_cli)


@posts_cli.command("sweep-stuck")
@click.option(
    "--older-than",
    "minutes",
    type=click.IntRange(min=1),
    default=None,
    help="Minutes without progress (default: POSTS_STUCK_AFTER_MINUTES).",
)
def sweep_stuck(minutes: int | None) -> None:
    """Fail and refund generation jobs that made no progress for too long (a worker that
    died). Safe to run at any time and as often as wanted: a job is refunded once."""
    from dashboard.services.posts.generation_run import (
        posts_sweep_stuck,
    )

    minutes = minutes or current_app.config["POSTS_STUCK_AFTER_MINUTES"]
    failed = posts_sweep_stuck(older_than=timedelta(minutes=minutes), actor=CLI_ACTOR)
    for job_id in failed:
        click.echo(f"failed and refunded: {job_id}")
    click.echo(f"{len(failed)} stuck generation job(s) older than {minutes} minutes refunded.")
