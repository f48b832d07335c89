"""Support commands: ``flask tokens ...`` and ``flask users ...``.

Thin doors onto ``dashboard.services.tokens.ledger``, ``tokens_bulk`` and ``moderation``: each
command finds the user by email, calls one service as the system actor ``cli`` and prints
what happened. A refusal is one line on stderr and exit status 1 (2 for a malformed
command line); nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import User
from dashboard.services import tokens
from dashboard.services.moderation import bans as moderation
from dashboard.services.tokens import bulk as tokens_bulk

tokens_cli = AppGroup("tokens", help="Token balances and their ledger.")
users_cli = AppGroup("users", help="Ban, unban and sign out users.")

DATE = click.DateTime(formats=["%Y-%m-%d"])
ERR_NO_USER = "No user with email {email}."
CHECK_LIMIT = 50


def register_cli(app: Flask) -> None:
    app.cli.add_command(tokens_cli)
    app.cli.add_command(users_cli)


def _actor() -> Actor:
    return Actor.system("cli")


def _user_id(email: str) -> str:
    """The id of the user with this email (exactly, else the one case-insensitive match)."""
    email = email.strip()
    user_id = db.session.scalar(sa.select(User.id).where(User.email == email))
    if user_id is None:
        matches = db.session.scalars(
            sa.select(User.id).where(sa.func.lower(User.email) == email.lower()).limit(2)
        ).all()
        user_id = matches[0] if len(matches) == 1 else None
    if user_id is None:
        raise click.ClickException(ERR_NO_USER.format(email=email))
    return user_id


def _call(service: Callable[..., Any], **arguments: Any) -> Any:
    """Run a service; its refusal becomes a one-line error and exit status 1."""
    try:
        return service(**arguments)
    except BackofficeError as exc:
        raise click.ClickException(exc.message) from None


def _day(value: datetime | None) -> str:
    return f" (tokens now expire {value:%Y-%m-%d %H:%M} UTC)" if value else ""


# "-5" must reach the service (and its clear message) as an amount, not as an unknown option.
AMOUNT_SETTINGS = {"ignore_unknown_options": True}


@tokens_cli.command("grant", context_settings=AMOUNT_SETTINGS)
@click.argument("email")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger and audit trail).")
@click.option("--expires", type=DATE, help="New expiry date: the tokens expire at 00:00 UTC.")
@click.option("--reference", help="A business key; a retry with the same one does nothing.")
def tokens_grant(
    email: str, amount: int, reason: str, expires: datetime | None, reference: str | None
) -> None:
    """Grant AMOUNT tokens to the user with EMAIL."""
    arguments: dict[str, Any] = {"reference": reference}
    if expires is not None:
        arguments["expires_at"] = expires
    change = _call(
        tokens.tokens_grant,
        user_id=_user_id(email),
        amount=amount,
        reason=reason,
        actor=_actor(),
        **arguments,
    )
    if not change.applied:
        click.echo(f"Reference {reference!r} was already applied; nothing changed.")
        return
    click.echo(
        f"Granted {amount} tokens to {email}: balance {change.balance_before} -> "
        f"{change.balance_after}{_day(expires)}."
    )


@tokens_cli.command("deduct", context_settings=AMOUNT_SETTINGS)
@click.argument("email")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger and audit trail).")
@click.option("--reference", help="A business key; a retry with the same one does nothing.")
def tokens_deduct(email: str, amount: int, reason: str, reference: str | None) -> None:
    """Take AMOUNT tokens from the user with EMAIL (refused if they have fewer)."""
    change = _call(
        tokens.tokens_deduct,
        user_id=_user_id(email),
        amount=amount,
        reason=reason,
        actor=_actor(),
        reference=reference,
    )
    if not change.applied:
        click.echo(f"Reference {reference!r} was already applied; nothing changed.")
        return
    click.echo(
        f"Deducted {amount} tokens from {email}: balance {change.balance_before} -> "
        f"{change.balance_after}."
    )


@tokens_cli.command("check")
@click.option("--limit", type=click.IntRange(1), default=CHECK_LIMIT, show_default=True)
def tokens_check(limit: int) -> None:
    """List users whose balance differs from their ledger; exit 1 if there are any."""
    mismatches = tokens.tokens_check(limit=limit + 1)
    if not mismatches:
        click.echo("The ledger explains every balance.")
        return
    for row in mismatches[:limit]:
        last = "none" if row.last_balance_after is None else row.last_balance_after
        click.echo(
            f"{row.email}: balance {row.balance}, ledger total {row.ledger_total}, "
            f"last ledger balance {last}"
        )
    more = f"more than {limit}" if len(mismatches) > limit else str(len(mismatches))
    raise click.ClickException(
        f"{more} user(s) have a balance their ledger does not explain; "
        "`flask tokens reconcile` books the differences"
    )


@tokens_cli.command("reconcile")
def tokens_reconcile() -> None:
    """Book opening balances and corrections so that the ledger explains every balance."""
    openings, corrections = tokens.tokens_reconcile(actor=_actor())
    click.echo(f"Booked {openings} opening balance(s) and {corrections} correction(s).")


@tokens_cli.command("expire")
def tokens_expire() -> None:
    """Zero every balance whose expiry date has passed (safe to run again)."""
    result = tokens_bulk.tokens_expire(actor=_actor())
    click.echo(
        f"Expired the tokens of {result.changed} user(s)"
        f" ({result.skipped_already_applied} had expired before)."
    )


@users_cli.command("ban")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--until", type=DATE, help="End of the ban (00:00 UTC that day).")
def users_ban(email: str, reason: str, until: datetime | None) -> None:
    """Ban the user with EMAIL and sign them out everywhere."""
    result = _call(
        moderation.user_ban, user_id=_user_id(email), reason=reason, actor=_actor(), until=until
    )
    click.echo(result.message)


@users_cli.command("unban")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
def users_unban(email: str, reason: str) -> None:
    """Unban the user with EMAIL; their role follows their subscriptions."""
    result = _call(moderation.user_unban, user_id=_user_id(email), reason=reason, actor=_actor())
    click.echo(result.message)


@users_cli.command("sign-out")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
def users_sign_out(email: str, reason: str) -> None:
    """End every session of the user with EMAIL, without banning them."""
    result = _call(
        moderation.user_sign_out_everywhere,
        user_id=_user_id(email),
        reason=reason,
        actor=_actor(),
    )
    click.echo(result.message)


@users_cli.command("expire-bans")
def users_expire_bans() -> None:
    """Unban everyone whose ban has ended (safe to run again)."""
    count = moderation.users_expire_bans(actor=_actor())
    click.echo(f"Unbanned {count} user(s) whose ban had ended.")
