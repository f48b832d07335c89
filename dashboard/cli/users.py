"""``flask users ...``: thin doors onto ``dashboard.services.moderation``.

Each command finds the user by email, calls one service as the system actor ``cli`` and
prints its message. A refusal is one line on stderr and exit status 1 (2 for a malformed
command line); nothing is written then.
"""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR, DATE, call, user_id_for
from dashboard.services.moderation import bans as moderation

users_cli = AppGroup("users", help="Ban, unban and sign out users.")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)


@users_cli.command("ban")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--until", type=DATE, help="End of the ban (00:00 UTC that day).")
def users_ban(email: str, reason: str, until: datetime | None) -> None:
    """Ban the user with EMAIL and sign them out everywhere."""
    result = call(
        moderation.user_ban, user_id=user_id_for(email), reason=reason, actor=CLI_ACTOR, until=until
    )
    click.echo(result.message)


@users_cli.command("unban")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
def users_unban(email: str, reason: str) -> None:
    """Unban the user with EMAIL; their role follows their subscriptions."""
    result = call(moderation.user_unban, user_id=user_id_for(email), reason=reason, actor=CLI_ACTOR)
    click.echo(result.message)


@users_cli.command("sign-out")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
def users_sign_out(email: str, reason: str) -> None:
    """End every session of the user with EMAIL, without banning them."""
    result = call(
        moderation.user_sign_out_everywhere,
        user_id=user_id_for(email),
        reason=reason,
        actor=CLI_ACTOR,
    )
    click.echo(result.message)


@users_cli.command("expire-bans")
def users_expire_bans() -> None:
    """Unban everyone whose ban has ended (safe to run again)."""
    count = moderation.users_expire_bans(actor=CLI_ACTOR)
    click.echo(f"Unbanned {count} user(s) whose ban had ended.")
