"""``flask tokens ...``: thin doors onto ``dashboard.services.tokens``.

Each command finds the user by email, calls one service as the system actor ``cli`` and
prints what happened. A refusal is one line on stderr and exit status 1 (2 for a malformed
command line); nothing is written then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR, DATE, call, user_id_for
from dashboard.services import tokens
from dashboard.services.tokens import bulk as tokens_bulk

tokens_cli = AppGroup("tokens", help="Token balances and their ledger.")

CHECK_LIMIT = 50


def register(app: Flask) -> None:
    app.cli.add_command(tokens_cli)


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
    change = call(
        tokens.tokens_grant,
        user_id=user_id_for(email),
        amount=amount,
        reason=reason,
        actor=CLI_ACTOR,
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
    change = call(
        tokens.tokens_deduct,
        user_id=user_id_for(email),
        amount=amount,
        reason=reason,
        actor=CLI_ACTOR,
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
    openings, corrections = tokens.tokens_reconcile(actor=CLI_ACTOR)
    click.echo(f"Booked {openings} opening balance(s) and {corrections} correction(s).")


@tokens_cli.command("expire")
def tokens_expire() -> None:
    """Zero every balance whose expiry date has passed (safe to run again)."""
    result = tokens_bulk.tokens_expire(actor=CLI_ACTOR)
    click.echo(
        f"Expired the tokens of {result.changed} user(s)"
        f" ({result.skipped_already_applied} had expired before)."
    )
